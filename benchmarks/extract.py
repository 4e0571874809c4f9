"""Benchmark: ``genrenet extract`` against a plain librosa pipeline on the same real music.

Both pipelines run as subprocesses of this script, alternating, on the same files with the same
number of workers, and both write one ``.npy`` per file. Three figures, each a median of repeats:

- cold: the whole ``genrenet extract`` command on an empty cache vs the whole librosa script
  (interpreter start-up and imports included: what a user waits for);
- warm: ``genrenet extract`` again on the filled cache vs the librosa script again;
- cold, in-process: only the extraction call, imports and warm-up done before the clock starts;
- warm, in-process: a second extract on the filled cache plus loading every matrix (what a
  training run does), against the librosa in-process figure.

Usage: ``python benchmarks/extract.py [--data DIR] [--workers N] [--repeats R] [--features K]``.
Without the data folder (default ``../shared/data/gtzan-mini``) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULT_PREFIX,
    RunResult,
    format_table,
    load_note,
    median,
    mib,
    repo_root,
    run_measured,
    spread,
    worker_result,
)

DEFAULT_DATA = repo_root().parent / "shared" / "data" / "gtzan-mini"

BASELINE_SETTINGS = {
    "sample_rate": 22050,
    "n_fft": 2048,
    "hop_length": 512,
    "n_mels": 128,
    "n_mfcc": 40,
    "top_db": 80.0,
}
"""The librosa pipeline's settings; checked against genrenet's FeatureConfig defaults."""

COLD_TARGET, COLD_GOAL, WARM_TARGET = 3.0, 5.0, 50.0
"""Speed-up targets, as librosa time / genrenet time."""

SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 for the librosa pool (N processes must not oversubscribe the cores) and for the
one-thread breakdown."""


# --------------------------------------------------------------------------- librosa baseline


def librosa_features(y, sr: int, kind: str):
    """The plain librosa feature computation (log-mel dB or MFCC) with the baseline settings."""
    import librosa

    s = BASELINE_SETTINGS
    if kind == "mfcc":
        return librosa.feature.mfcc(
            y=y,
            sr=sr,
            n_mfcc=s["n_mfcc"],
            n_fft=s["n_fft"],
            hop_length=s["hop_length"],
            n_mels=s["n_mels"],
        )  # mfcc applies power_to_db with its default top_db, 80 dB
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=s["n_fft"], hop_length=s["hop_length"], n_mels=s["n_mels"]
    )
    return librosa.power_to_db(mel, ref=1.0, top_db=s["top_db"])


_INIT_CPU = 0.0
"""CPU seconds a pool process had used when its warm-up ended (in-process figure only)."""


def librosa_one(task: tuple[str, str, str]) -> tuple[int, int, str | None, float, float]:
    """Load, compute and save one file.

    Returns (pid, this process's peak RSS in KB, error or None, its CPU seconds so far, its CPU
    seconds at the end of its warm-up).
    """
    import librosa
    import numpy as np

    path, dest, kind = task
    error = None
    try:
        y, sr = librosa.load(path, sr=BASELINE_SETTINGS["sample_rate"])
        feats = librosa_features(y, sr, kind)
        np.save(dest, feats.astype(np.float32, copy=False), allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - a baseline file that fails is counted, not fatal
        error = f"{path}: {err}"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return os.getpid(), rss, error, time.process_time(), _INIT_CPU


def _librosa_warm(barrier, path: str, kind: str) -> None:
    """Pool initializer for the in-process figure: do every lazy import and first call early."""
    import librosa

    global _INIT_CPU
    y, sr = librosa.load(path, sr=BASELINE_SETTINGS["sample_rate"])
    librosa_features(y, sr, kind)
    _INIT_CPU = time.process_time()
    barrier.wait()


def run_librosa_worker(files: list[str], out: Path, workers: int, kind: str, warm: bool) -> dict:
    """The baseline: a Pool of ``workers`` processes (serial when 1) over every file.

    With ``warm``, the pool is started and every process has imported and run librosa once
    before the clock starts (the in-process figure); otherwise the clock starts at once.
    """
    import multiprocessing

    t0 = time.perf_counter()
    import librosa
    import numba

    tasks = [(f, str(out / f"{i:05d}.npy"), kind) for i, f in enumerate(files)]
    results: list[tuple[int, int, str | None, float, float]] = []
    pool = None
    if workers > 1:
        ctx = multiprocessing.get_context()
        if warm:
            barrier = ctx.Barrier(workers + 1)
            pool = ctx.Pool(workers, initializer=_librosa_warm, initargs=(barrier, files[0], kind))
            barrier.wait()
        else:
            pool = ctx.Pool(workers)
    elif warm:
        y, sr = librosa.load(files[0], sr=BASELINE_SETTINGS["sample_rate"])
        librosa_features(y, sr, kind)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    if pool is not None:
        with pool:
            results = list(pool.imap_unordered(librosa_one, tasks, chunksize=1))
    else:
        results = [librosa_one(t) for t in tasks]
    t_end, cpu = time.perf_counter(), time.process_time() - cpu_start
    me = os.getpid()
    peaks: dict[int, int] = {me: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    pool_cpu: dict[int, float] = {}
    for pid, rss, _, cpu_now, cpu_init in results:
        peaks[pid] = max(peaks.get(pid, 0), rss)
        if pid != me:
            pool_cpu[pid] = max(pool_cpu.get(pid, 0.0), cpu_now - cpu_init)
    return {
        "setup_s": t_start - t0,
        "run_s": t_end - t_start,
        "run_cpu_s": cpu + sum(pool_cpu.values()),
        "done": sum(1 for r in results if r[2] is None),
        "errors": [r[2] for r in results if r[2] is not None],
        "processes": len(peaks),
        "rss_sum_kb": sum(peaks.values()),
        "rss_max_kb": max(peaks.values()),
        "versions": {"librosa": librosa.__version__, "numba": numba.__version__},
    }


# --------------------------------------------------------------------------- genrenet in-process


def run_genrenet_inprocess(files: list[str], cache: Path, workers: int, kind: str) -> dict:
    """Time only ``FeatureStore.extract`` on an empty cache; imports and one warm-up call first."""
    t0 = time.perf_counter()
    import torch

    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    t_import = time.perf_counter()
    store = FeatureStore(FeatureConfig(kind=kind), cache)
    store.compute(Path(files[0]))
    t_start, cpu_start = time.perf_counter(), time.process_time()
    report = store.extract([Path(f) for f in files], workers=workers)
    t_end, cpu = time.perf_counter(), time.process_time() - cpu_start
    # Served from the cache: what a second extract (or a training run) does, in-process.
    t_warm = time.perf_counter()
    again = store.extract([Path(f) for f in files], workers=workers)
    loaded = [store.get(Path(f)) for f in files]
    warm_s = time.perf_counter() - t_warm
    assert len(again.cached) == len(report.computed) and all(x is not None for x in loaded)
    return {
        "warm_s": warm_s,
        "import_s": t_import - t0,
        "setup_s": t_start - t_import,
        "run_s": t_end - t_start,
        "run_cpu_s": cpu,
        "done": len(report.computed),
        "errors": [f"{s.path}: {s.reason}" for s in report.failed],
        "rss_max_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "versions": {"torch": torch.__version__},
    }


# --------------------------------------------------------------------------- stage breakdown


class Stopwatch:
    """Adds up wall and CPU seconds per named stage: ``with watch("decode"): ...``."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            total = self.totals.setdefault(name, [0.0, 0.0])
            total[0] += time.perf_counter() - wall
            total[1] += time.process_time() - cpu


def run_breakdown(files: list[str], scratch: Path, which: str, kind: str) -> dict:
    """One process, one thread: fixed costs, then per-file decode / features / save totals."""
    fixed, stages = Stopwatch(), Stopwatch()
    if which == "genrenet":
        with fixed("import genrenet.data.store (torch, numpy)"):
            import torch

            from genrenet import audio
            from genrenet.data.store import FeatureStore
            from genrenet.features import FeatureConfig, frontend
        torch.set_num_threads(1)
        with fixed("FeatureStore(...) (front end: librosa.filters -> scipy.signal, numba)"):
            config = FeatureConfig(kind=kind)
            store = FeatureStore(config, scratch)
        module = frontend(config)
        with fixed("first file (first torch.stft call)"), torch.no_grad():
            module(torch.from_numpy(audio.load(Path(files[0]), sr=config.sample_rate)))
        for f in files:
            path = Path(f)
            with stages("decode (check, cache key, audio.load)"):
                audio.check_file(path)
                store.entry_path(path)
                y = audio.load(
                    path, sr=config.sample_rate, min_duration=config.n_fft / config.sample_rate
                )
            with stages("features (torch front end)"), torch.no_grad():
                feats = module(torch.from_numpy(y)).numpy()
            with stages("save (FeatureStore.put)"):
                store.put(path, feats)
    else:
        with fixed("import librosa, numpy"):
            import librosa
            import numpy as np
        with fixed("first file (librosa's lazy imports: scipy.signal, numba, ...)"):
            y, sr = librosa.load(files[0], sr=BASELINE_SETTINGS["sample_rate"])
            librosa_features(y, sr, kind)
        for i, f in enumerate(files):
            with stages("decode (librosa.load)"):
                y, sr = librosa.load(f, sr=BASELINE_SETTINGS["sample_rate"])
            with stages("features (melspectrogram, power_to_db)"):
                feats = librosa_features(y, sr, kind)
            with stages("save (np.save)"):
                np.save(scratch / f"{i:05d}.npy", feats.astype(np.float32, copy=False))
    return {"fixed": fixed.totals, "stages": stages.totals}


# --------------------------------------------------------------------------- the comparison


def genrenet_command() -> list[str]:
    """The ``genrenet`` console script beside this interpreter, else ``python -m genrenet.cli``."""
    script = Path(sys.executable).with_name("genrenet")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "genrenet.cli"]


def parse_genrenet_output(stdout: str) -> tuple[int, int]:
    """(computed, from the cache) from ``genrenet extract``'s summary line."""
    text = " ".join(stdout.split())
    m = re.search(r"\((\d+) computed, (\d+) from the cache\)", text)
    if m is None:
        sys.exit(f"error: cannot find the summary line in genrenet's output:\n{stdout}")
    return int(m.group(1)), int(m.group(2))


class Bench:
    """Runs the pipelines as subprocesses in fresh folders under one scratch folder."""

    def __init__(self, args: argparse.Namespace, files: list[str], scratch: Path) -> None:
        self.args = args
        self.files = files
        self.scratch = scratch
        self.files_json = scratch / "files.json"
        self.files_json.write_text(json.dumps(files))
        self.script = str(Path(__file__).resolve())
        self.env = {**os.environ, "COLUMNS": "500"}
        self.one_thread_env = {**self.env, **{name: "1" for name in SINGLE_THREAD_ENV}}
        self.pool_env = self.one_thread_env if args.workers > 1 else self.env
        self._count = 0

    def fresh(self, name: str) -> Path:
        """A new empty folder."""
        self._count += 1
        folder = self.scratch / f"{self._count:03d}-{name}"
        folder.mkdir()
        return folder

    def genrenet(self, cache: Path) -> tuple[RunResult, int, int]:
        """The whole ``genrenet extract`` command; returns (run, computed, from the cache)."""
        cmd = [
            *genrenet_command(),
            "extract",
            str(self.args.data),
            "--features",
            self.args.features,
            "--workers",
            str(self.args.workers),
            "--cache",
            str(cache),
        ]
        run = run_measured(cmd, self.env)
        if run.returncode not in (0, 1):
            run.check("genrenet extract")
        return (run, *parse_genrenet_output(run.stdout))

    def worker(self, mode: str, out: Path, extra: Sequence[str] = ()) -> tuple[RunResult, dict]:
        """This script in one of its worker modes; returns the run and the worker's answer."""
        cmd = [
            sys.executable,
            self.script,
            mode,
            "--files-json",
            str(self.files_json),
            "--out",
            str(out),
            "--workers",
            str(self.args.workers),
            "--features",
            self.args.features,
            *extra,
        ]
        env = {"--librosa-worker": self.pool_env, "--breakdown-worker": self.one_thread_env}.get(
            mode, self.env
        )
        run = run_measured(cmd, env).check(f"{mode} {out}")
        return run, worker_result(run.stdout)

    def librosa(self, warm: bool = False) -> tuple[RunResult, dict, Path]:
        """The whole librosa script (or, with ``warm``, its in-process figure)."""
        out = self.fresh("librosa")
        run, answer = self.worker("--librosa-worker", out, ["--warm"] if warm else [])
        return run, answer, out


def audio_seconds(paths: Sequence[Path]) -> float:
    """Total duration from the files' headers."""
    from genrenet.audio import AudioError, probe

    total = 0.0
    for path in paths:
        with suppress(AudioError):
            total += probe(path).duration
    return total


def agreement(bench: Bench, cache: Path, librosa_out: Path, kind: str) -> str:
    """Largest difference between the two pipelines' saved features, and a settings check."""
    import numpy as np

    from genrenet.data.store import FeatureStore
    from genrenet.features import FeatureConfig

    config = FeatureConfig(kind=kind)
    mismatched = [k for k, v in BASELINE_SETTINGS.items() if getattr(config, k) != v]
    store = FeatureStore(config, cache)
    worst, compared = 0.0, 0
    for i, f in enumerate(bench.files):
        ours = store.get(Path(f))
        theirs_path = librosa_out / f"{i:05d}.npy"
        if ours is None or not theirs_path.exists():
            continue
        theirs = np.load(theirs_path, allow_pickle=False)
        if ours.shape != theirs.shape:
            return f"shapes differ for {f}: genrenet {ours.shape}, librosa {theirs.shape}"
        worst = max(worst, float(np.max(np.abs(ours - theirs))))
        compared += 1
    unit = "dB" if kind == "logmel" else "(MFCC units)"
    text = f"{compared} files compared, largest |genrenet - librosa| = {worst:.4f} {unit}"
    if mismatched:
        text += f"; WARNING: baseline settings differ from FeatureConfig in {mismatched}"
    return text


def verdict(ratio: float, target: float, goal: float | None = None) -> str:
    """PASS / MISS against a target, noting when a stretch goal is also met."""
    if ratio < target:
        return "MISS"
    return "PASS (goal met)" if goal is not None and ratio >= goal else "PASS"


def main_benchmark(args: argparse.Namespace) -> int:
    """Run the comparison and print the table; 0 when done (also when the data is absent)."""
    if not args.data.is_dir():
        print(
            f"skipping the extract benchmark: the data folder {args.data} does not exist "
            "(pass --data DIR with a genre-folder collection to run it)"
        )
        return 0
    from genrenet.data import open_collection

    collection = open_collection(args.data)
    paths = [t.path for t in collection.tracks]
    if not paths:
        print(f"error: {args.data}: no audio tracks found", file=sys.stderr)
        return 2
    files = [str(p) for p in paths]
    seconds = audio_seconds(paths)
    n = len(files)
    scratch = Path(tempfile.mkdtemp(prefix="genrenet-bench-"))
    try:
        return _compare(args, files, seconds, n, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _compare(
    args: argparse.Namespace, files: list[str], seconds: float, n: int, scratch: Path
) -> int:
    """Warm up, run the alternating repeats and print the tables."""
    bench = Bench(args, files, scratch)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"genrenet extract vs plain librosa  ({args.features}, {platform.python_version()})")
    print(f"data     : {args.data}")
    print(f"files    : {n}, {seconds / 60:.1f} min of audio")
    print(f"workers  : {args.workers} (CPUs available: {cpus}); repeats: {args.repeats}")
    print(f"machine  : {load_note()}")
    print(f"genrenet : {' '.join(genrenet_command())} extract (threads)")
    pool = f"Pool({args.workers})" if args.workers > 1 else "a serial loop"
    print(f"librosa  : librosa.load + melspectrogram + power_to_db + np.save in {pool}")
    if args.workers > 1:
        names = ", ".join(SINGLE_THREAD_ENV)
        print(f"           ({names} = 1 in the pool, so N processes do not oversubscribe)")
    print(
        "warm-up  : one untimed run of each pipeline first (fills numba's on-disk cache and "
        "the OS file cache for both)"
    )
    sys.stdout.flush()

    _, warm_answer, _ = bench.librosa()
    if warm_answer["errors"]:
        print(f"librosa failed on {len(warm_answer['errors'])} of {n} file(s), e.g.:")
        for error in warm_answer["errors"][:3]:
            print(f"  {error}")
        if not warm_answer["done"]:
            print("error: the librosa baseline cannot read any file", file=sys.stderr)
            return 1
    bench.genrenet(bench.fresh("genrenet-warmup"))

    g_cold: list[RunResult] = []
    g_warm: list[RunResult] = []
    l_cold: list[tuple[RunResult, dict]] = []
    l_warm: list[tuple[RunResult, dict]] = []
    g_in: list[dict] = []
    l_in: list[dict] = []
    counts: list[str] = []
    last_cache = last_out = None
    for r in range(args.repeats):
        cache = bench.fresh("genrenet")
        genrenet_first = r % 2 == 1
        if genrenet_first:
            run, computed, cached = bench.genrenet(cache)
            g_cold.append(run)
            counts.append(f"cold {computed}+{cached}")
        run_l, answer, last_out = bench.librosa()
        l_cold.append((run_l, answer))
        if not genrenet_first:
            run, computed, cached = bench.genrenet(cache)
            g_cold.append(run)
            counts.append(f"cold {computed}+{cached}")
        if computed != n - len(warm_answer["errors"]):
            print(f"warning: genrenet computed {computed} of {n} files on an empty cache")
        run_w, computed, cached = bench.genrenet(cache)
        g_warm.append(run_w)
        if cached != n - len(warm_answer["errors"]) or computed:
            print(f"warning: warm genrenet run took {cached} from the cache, computed {computed}")
        l_warm.append(bench.librosa()[:2])
        last_cache = cache
        in_order = ("genrenet", "librosa") if genrenet_first else ("librosa", "genrenet")
        for which in in_order:
            if which == "genrenet":
                _, answer = bench.worker("--genrenet-inprocess", bench.fresh("genrenet-in"))
                g_in.append(answer)
            else:
                l_in.append(bench.librosa(warm=True)[1])
        print(
            f"repeat {r + 1}: genrenet cold {g_cold[-1].wall_s:.2f}s warm {g_warm[-1].wall_s:.2f}s"
            f" in-process {g_in[-1]['run_s']:.2f}s | librosa {l_cold[-1][0].wall_s:.2f}s, "
            f"{l_warm[-1][0].wall_s:.2f}s, in-process {l_in[-1]['run_s']:.2f}s"
        )
        sys.stdout.flush()

    g_c = median([x.wall_s for x in g_cold])
    g_w = median([x.wall_s for x in g_warm])
    l_c = median([x[0].wall_s for x in l_cold])
    l_w = median([x[0].wall_s for x in l_warm])
    g_i = median([x["run_s"] for x in g_in])
    l_i = median([x["run_s"] for x in l_in])
    g_wi = median([x["warm_s"] for x in g_in])

    def rss_l(items: list[tuple[RunResult, dict]]) -> str:
        largest = max(x[0].max_rss_kb for x in items)
        total = max(x[1]["rss_sum_kb"] for x in items)
        procs = items[0][1]["processes"]
        return f"{mib(largest)} / {mib(total)} ({procs} procs)"

    rows = [
        [
            "cold (whole command)",
            f"{g_c:.2f}",
            f"{l_c:.2f}",
            f"{l_c / g_c:.2f}x",
            f"{seconds / g_c:.0f}x",
            f"{seconds / l_c:.0f}x",
            f">= {COLD_TARGET:g}x (goal {COLD_GOAL:g}x)",
            verdict(l_c / g_c, COLD_TARGET, COLD_GOAL),
        ],
        [
            "warm (genrenet cache)",
            f"{g_w:.2f}",
            f"{l_w:.2f}",
            f"{l_w / g_w:.2f}x",
            f"{seconds / g_w:.0f}x",
            f"{seconds / l_w:.0f}x",
            f">= {WARM_TARGET:g}x",
            verdict(l_w / g_w, WARM_TARGET),
        ],
        [
            "cold, in-process",
            f"{g_i:.2f}",
            f"{l_i:.2f}",
            f"{l_i / g_i:.2f}x",
            f"{seconds / g_i:.0f}x",
            f"{seconds / l_i:.0f}x",
            "(shows where time goes)",
            "-",
        ],
        [
            "warm, in-process (check + load all)",
            f"{g_wi:.3f}",
            f"{l_i:.2f}",
            f"{l_i / g_wi:.1f}x",
            f"{seconds / g_wi:.0f}x",
            f"{seconds / l_i:.0f}x",
            f">= {WARM_TARGET:g}x",
            verdict(l_i / g_wi, WARM_TARGET),
        ],
    ]
    headers = [
        "measure (median)",
        "genrenet s",
        "librosa s",
        "librosa/genrenet",
        "genrenet xRT",
        "librosa xRT",
        "target",
        "result",
    ]
    print()
    print(format_table(headers, rows))
    print()
    spread_rows = [
        [
            "cold (whole command)",
            spread([x.wall_s for x in g_cold]),
            spread([x[0].wall_s for x in l_cold]),
        ],
        [
            "warm (genrenet cache)",
            spread([x.wall_s for x in g_warm]),
            spread([x[0].wall_s for x in l_warm]),
        ],
        [
            "cold, in-process",
            spread([x["run_s"] for x in g_in]),
            spread([x["run_s"] for x in l_in]),
        ],
    ]
    print(format_table(["min-max of repeats (s)", "genrenet", "librosa"], spread_rows))
    print()
    cpu_pairs = [
        ("cold (whole command)", [x.cpu_s for x in g_cold], [x[0].cpu_s for x in l_cold]),
        ("warm (genrenet cache)", [x.cpu_s for x in g_warm], [x[0].cpu_s for x in l_warm]),
        ("cold, in-process", [x["run_cpu_s"] for x in g_in], [x["run_cpu_s"] for x in l_in]),
    ]
    cpu_rows = [
        [name, f"{median(g):.2f}", f"{median(lib):.2f}", f"{median(lib) / median(g):.2f}x"]
        for name, g, lib in cpu_pairs
    ]
    print(
        format_table(
            ["CPU time, all processes (median)", "genrenet s", "librosa s", "librosa/genrenet"],
            cpu_rows,
        )
    )
    print(f"machine at the end: {load_note(own=args.workers)}")
    print()
    rss_rows = [
        ["cold (whole command)", mib(max(x.max_rss_kb for x in g_cold)), rss_l(l_cold)],
        ["warm (genrenet cache)", mib(max(x.max_rss_kb for x in g_warm)), rss_l(l_warm)],
        ["cold, in-process", mib(max(x["rss_max_kb"] for x in g_in)), "-"],
    ]
    print(
        format_table(
            ["peak RSS", "genrenet (1 process)", "librosa largest process / sum of processes"],
            rss_rows,
        )
    )
    print()
    g_imp = median([x["import_s"] for x in g_in])
    g_set = median([x["setup_s"] for x in g_in])
    l_set = median([x["setup_s"] for x in l_in])
    print(
        f"in-process set-up (not in the in-process figure): genrenet imports {g_imp:.2f}s + "
        f"FeatureStore and one warm-up file {g_set:.2f}s; librosa imports, pool start and "
        f"one warm-up file per process {l_set:.2f}s"
    )
    versions = {**warm_answer["versions"], **g_in[0]["versions"]}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"agreement: {agreement(bench, last_cache, last_out, args.features)}")
    if args.breakdown:
        print_breakdown(bench, n)
    return 0


def print_breakdown(bench: Bench, n: int) -> None:
    """Where each pipeline's time goes, in one process on one thread."""
    print()
    print("breakdown: one process, one thread (OMP_NUM_THREADS=1), every file")
    fixed_rows: list[list[str]] = []
    stage_rows: list[list[str]] = []
    for which in ("genrenet", "librosa"):
        _, answer = bench.worker(
            "--breakdown-worker", bench.fresh(f"breakdown-{which}"), ["--which", which]
        )
        for label, (wall, cpu) in answer["fixed"].items():
            fixed_rows.append([f"{which}: {label}", f"{wall:.2f}", f"{cpu:.2f}"])
        total_wall = total_cpu = 0.0
        for stage, (wall, cpu) in answer["stages"].items():
            total_wall += wall
            total_cpu += cpu
            row = [f"{which}: {stage}", f"{wall:.2f}", f"{cpu:.2f}", f"{1000 * cpu / n:.1f}"]
            stage_rows.append(row)
        stage_rows.append(
            [
                f"{which}: all stages",
                f"{total_wall:.2f}",
                f"{total_cpu:.2f}",
                f"{1000 * total_cpu / n:.1f}",
            ]
        )
    starts = []
    for label, code in (
        ("python -c pass (interpreter start-up)", "pass"),
        ("python -c 'import genrenet.cli' (typer, rich; no torch yet)", "import genrenet.cli"),
    ):
        run = run_measured([sys.executable, "-c", code], bench.env)
        starts.append([label, f"{run.wall_s:.2f}", f"{run.cpu_s:.2f}"])
    fixed_rows = starts + fixed_rows
    print(format_table(["fixed cost", "wall s", "CPU s"], fixed_rows))
    print()
    print(format_table(["per-file stage", "wall s", "CPU s", "CPU ms/file"], stage_rows))


# --------------------------------------------------------------------------- entry point


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (the worker modes are internal)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="collection folder")
    p.add_argument("--workers", type=int, default=2, help="processes / threads (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (median; default 3)")
    p.add_argument("--features", choices=("logmel", "mfcc"), default="logmel")
    p.add_argument(
        "--no-breakdown",
        dest="breakdown",
        action="store_false",
        help="skip the single-process decode/features/save breakdown",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--librosa-worker", action="store_true", help=argparse.SUPPRESS)
    mode.add_argument("--genrenet-inprocess", action="store_true", help=argparse.SUPPRESS)
    mode.add_argument("--breakdown-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--files-json", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--which", choices=("genrenet", "librosa"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers must be at least 1, got {args.workers}")
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, or one of its worker modes when this script launched itself."""
    args = parse_args(argv)
    worker_mode = args.librosa_worker or args.genrenet_inprocess or args.breakdown_worker
    if not worker_mode:
        return main_benchmark(args)
    files = json.loads(args.files_json.read_text())
    if args.librosa_worker:
        answer = run_librosa_worker(files, args.out, args.workers, args.features, args.warm)
    elif args.genrenet_inprocess:
        answer = run_genrenet_inprocess(files, args.out, args.workers, args.features)
    else:
        answer = run_breakdown(files, args.out, args.which, args.features)
    print(RESULT_PREFIX + json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
