"""Throughput of ``genrenet predict`` per runtime, against the machine's ceiling and a user's
librosa + PyTorch script: tracks per second and times real time, decode included.

For each model and each runtime (``torch``, ``onnx``, ``onnx-int8``) every file of the collection
is predicted (whole song, non-overlapping windows, probabilities averaged) two ways:

- whole command: ``genrenet predict DIR --model M --runtime R`` as a subprocess (start-up,
  imports, model load, session creation included; the ONNX graph is exported into a scratch
  cache by an untimed run first, as a user's first run does once); int8, which the command
  line does not offer, is timed in process only;
- in-process: ``Classifier.predict_files`` after the model is loaded and one file predicted.

In the same run, side by side:

- the **ceiling**: the multiply-add rate of a large fp32 matrix product (PyTorch) and of an
  int8 one (onnxruntime's MatMulInteger) on the same threads, with each model's achieved rate
  (multiply-adds per window, counted by PyTorch's FlopCounterMode, times windows per second) as a
  fraction of it; for musicnn-based models also its front end alone (timbral and temporal
  convolutions, 1.34 GMAC per 3 s patch), timed in process;
- **librosa + PyTorch as a user would write it** (``librosa.load``, ``melspectrogram``, musicnn's
  log compression, the network in a loop over files) for musicnn-based models;
- the original TensorFlow musicnn's figure, recorded elsewhere (``--baseline-x-real-time``,
  default the 27x timed by ``tools/musicnn_reference.py --time`` on 2 AVX-512 cores; it cannot
  run in genrenet's environment).

The CPU model and its vector extensions are printed. Without ``--model-dir`` a bundle with
initial weights is made for each architecture; ``gtzan-musicnn`` is used as it ships.

    .venv/bin/python benchmarks/predict.py [--data DIR] [--models cnn64,gtzan-musicnn]
        [--runtimes torch,onnx,onnx-int8] [--limit N] [--repeats 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULT_PREFIX,
    format_table,
    load_note,
    median,
    mib,
    repo_root,
    run_measured,
    worker_result,
)

TARGETS = {"cnn64": 500.0, "gtzan-musicnn": 150.0}
FRONTEND_CEILING_TARGET = 0.70
TF_RECORDED_X = 27.0
DEFAULT_DATA = repo_root().parent / "shared" / "data" / "gtzan-mini"
RUNTIMES = ("torch", "onnx", "onnx-int8")
CLI_RUNTIMES = ("torch", "onnx")


def cpu_description() -> str:
    """CPU model name and its SIMD extensions (from /proc/cpuinfo, Linux)."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    simd = sorted(f for f in flags if f.startswith(("avx", "fma", "f16c", "amx")) or "vnni" in f)
    return f"{model}; vector extensions: {' '.join(simd) or 'none found'}"


def make_bundle(arch: str, labels: list[str], out: Path) -> Path:
    """A loadable bundle of ``arch`` with initial weights and unit normalisation."""
    import numpy as np

    from genrenet.classifier import Classifier
    from genrenet.patches import Normalizer

    clf = Classifier(model=arch)
    clf.labels = labels
    n = clf.feature_config.n_features
    clf.normalizer = Normalizer(np.full(n, -30.0, np.float32), np.full(n, 20.0, np.float32))
    clf.network = clf.build_network(len(labels)).eval()
    return clf.save(out / arch)


def count_windows(clf, files: list[Path]) -> int:
    """Windows the predictor scores over ``files`` (non-overlapping, last one at the end)."""
    import soundfile as sf

    from genrenet.patches import window_starts

    cfg, patch = clf.feature_config, clf.patch_frames
    total = 0
    for f in files:
        samples = int(round(sf.info(str(f)).duration * cfg.sample_rate))
        total += len(window_starts(max(1 + samples // cfg.hop_length, patch), patch, patch))
    return total


def macs_per_window(clf) -> tuple[float, float | None]:
    """Multiply-adds of the network for one patch, and of musicnn's front end (else None)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, clf.feature_config.n_features, clf.patch_frames)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        clf.network(x)
    total = counter.get_total_flops() / 2
    backbone = getattr(clf.network, "backbone", None)
    if backbone is None or not hasattr(backbone, "frontend"):
        return total, None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        backbone.frontend(x[:, 0].transpose(1, 2))
    return total, counter.get_total_flops() / 2


def inprocess_worker(model: str, files: list[Path], workers: int, runtime: str) -> None:
    """Time Classifier.predict_files with the model loaded once; print JSON."""
    import soundfile as sf
    import torch

    from genrenet.classifier import Classifier

    torch.set_num_threads(workers)
    clf = Classifier.load(model, runtime=runtime)
    clf.predict_file(files[0])  # first call: lazy imports and allocations, not timed
    start = time.perf_counter()
    predictions = list(clf.predict_files(files, workers=workers))
    elapsed = time.perf_counter() - start
    seconds = sum(sf.info(str(f)).duration for f in files)
    failed = sum(p.error is not None for p in predictions)
    macs, front_macs = macs_per_window(clf)
    result = {
        "seconds": elapsed,
        "audio": seconds,
        "failed": failed,
        "windows": count_windows(clf, files),
        "macs": macs,
        "top": [p.top[0]["label"] if p.top else None for p in predictions],
    }
    if front_macs is not None and runtime == "torch":
        result["frontend"] = frontend_rate(clf, front_macs)
    print(RESULT_PREFIX + json.dumps(result))


def frontend_rate(clf, front_macs: float, patches: int = 11, repeats: int = 3) -> float:
    """musicnn's front end alone in PyTorch, as it runs in prediction: multiply-adds per second."""
    import torch

    backbone = clf.network.backbone
    x = torch.randn(patches, 187, 96).abs()
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            for i in range(patches):  # one patch per pass, as predict runs it (CPU_PATCHES)
                backbone.frontend(x[i : i + 1])
            best = min(best, time.perf_counter() - start)
    return front_macs * patches / best


def ceiling_worker(workers: int, size: int = 2048, seconds: float = 2.0) -> None:
    """Multiply-adds per second of a large fp32 matrix product (PyTorch) and of an int8 one
    (onnxruntime MatMulInteger, uint8 x int8 -> int32), on ``workers`` threads; print JSON."""
    import numpy as np
    import torch

    torch.set_num_threads(workers)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    fp32 = best_rate(lambda: torch.mm(a, b), size**3, seconds)
    result = {"fp32": fp32, "int8": None}
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        weights = np.random.default_rng(0).integers(-128, 127, (size, size), dtype=np.int8)
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["a", "w"], ["y"])],
            "int8_ceiling",
            [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size])],
            [helper.make_tensor_value_info("y", TensorProto.INT32, [size, size])],
            [numpy_helper.from_array(weights, "w")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = workers
        session = ort.InferenceSession(model.SerializeToString(), options)
        x = np.random.default_rng(1).integers(0, 255, (size, size), dtype=np.uint8)
        session.run(None, {"a": x})
        result["int8"] = best_rate(lambda: session.run(None, {"a": x}), size**3, seconds)
        del onnx
    except ImportError:
        pass
    print(RESULT_PREFIX + json.dumps(result))


def best_rate(step, macs: float, seconds: float) -> float:
    """Best multiply-adds per second of ``step`` over repeated timings within ``seconds``."""
    best, deadline = float("inf"), time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
        if time.perf_counter() > deadline:
            return macs / best


def user_worker(model: str, files: list[Path], workers: int) -> None:
    """librosa + PyTorch as a user would write it for a musicnn-based model; print JSON."""
    import librosa
    import numpy as np
    import soundfile as sf
    import torch

    from genrenet.classifier import Classifier

    torch.set_num_threads(workers)
    network = Classifier.load(model).network.eval()

    def classify(path: Path) -> np.ndarray:
        y, sr = librosa.load(str(path), sr=16000)
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, hop_length=256, n_mels=96)
        x = np.log10(10000 * mel + 1).astype(np.float32)
        patches = [x[:, s : s + 187] for s in range(0, x.shape[1] - 186, 187)]
        with torch.no_grad():
            batch = torch.from_numpy(np.stack(patches))[:, None]
            return torch.softmax(network(batch), dim=1).mean(0).numpy()

    classify(files[0])
    start = time.perf_counter()
    for f in files:
        classify(f)
    elapsed = time.perf_counter() - start
    seconds = sum(sf.info(str(f)).duration for f in files)
    print(RESULT_PREFIX + json.dumps({"seconds": elapsed, "audio": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--models", default="cnn64,resnet,gtzan-musicnn")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--model-dir", type=Path, help="use this trained bundle instead")
    parser.add_argument("--limit", type=int, help="only the first N files")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--baseline-x-real-time",
        type=float,
        default=TF_RECORDED_X,
        help="times real time of the original TensorFlow musicnn (recorded elsewhere)",
    )
    parser.add_argument("--no-user-baseline", action="store_true")
    parser.add_argument("--inprocess-worker", nargs=3, metavar=("MODEL", "FILES_JSON", "RT"))
    parser.add_argument("--user-worker", nargs=2, metavar=("MODEL", "FILES_JSON"))
    parser.add_argument("--ceiling-worker", action="store_true")
    args = parser.parse_args()
    if args.inprocess_worker:
        model, files_json, runtime = args.inprocess_worker
        files = [Path(p) for p in json.loads(Path(files_json).read_text())]
        inprocess_worker(model, files, args.workers, runtime)
        return
    if args.user_worker:
        files = [Path(p) for p in json.loads(Path(args.user_worker[1]).read_text())]
        user_worker(args.user_worker[0], files, args.workers)
        return
    if args.ceiling_worker:
        ceiling_worker(args.workers)
        return
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (pass --data DIR)")
        return
    run_benchmark(args)


def run_benchmark(args: argparse.Namespace) -> None:
    """Every model x runtime, the ceiling and the user's script, side by side; print tables."""
    from genrenet.data import open_collection

    collection = open_collection(args.data)
    files = [t.path for t in collection.tracks][: args.limit]
    tmp = Path(tempfile.mkdtemp(prefix="genrenet-bench-predict-"))
    files_json = tmp / "files.json"
    files_json.write_text(json.dumps([str(f) for f in files]))
    bundles: dict[str, Path | str] = {}
    if args.model_dir:
        bundles[args.model_dir.name] = args.model_dir
    else:
        from genrenet.classifier import BUNDLED_MODELS

        for arch in args.models.split(","):
            bundles[arch] = (
                arch if arch in BUNDLED_MODELS else make_bundle(arch, collection.labels, tmp)
            )
    runtimes = args.runtimes.split(",")
    exe = Path(sys.executable).with_name("genrenet")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.workers),
        "GENRENET_CACHE": str(tmp / "cache"),  # graphs exported by the warm-up runs below
    }
    print(
        f"genrenet predict throughput on {args.data} ({len(files)} files), {args.workers} "
        f"workers, {args.repeats} repeats"
    )
    print(f"CPU: {cpu_description()}")
    print(load_note())

    def python(*extra: str):
        cmd = [sys.executable, __file__, *extra, "--workers", str(args.workers)]
        return worker_result(run_measured(cmd, env).check(" ".join(extra[:1])).stdout)

    ceiling = python("--ceiling-worker")
    rows, fractions, tops, inproc_x = [], [], {}, {}
    for name, bundle in bundles.items():
        for runtime in runtimes:
            predict = [str(exe), "predict", str(args.data), "--model", str(bundle), "--json"]
            predict += ["--workers", str(args.workers), "--runtime", runtime]
            if args.limit:
                predict[2:3] = [str(f) for f in files]
            on_cli = runtime in CLI_RUNTIMES  # int8 runs in process only (not offered)
            if on_cli:
                run_measured(predict, env).check(f"warm-up predict ({runtime})")  # exports
            command, inproc, rss, result = [], [], 0, {}
            for _ in range(args.repeats):
                if on_cli:
                    run = run_measured(predict, env).check("predict")
                    out = json.loads(run.stdout)
                    assert len(out) == len(files) and not any(o["error"] for o in out)
                    command.append(run.wall_s)
                    rss = max(rss, run.max_rss_kb)
                result = python("--inprocess-worker", str(bundle), str(files_json), runtime)
                inproc.append(result["seconds"])
            c = median(command) if command else float("nan")
            i, audio_s = median(inproc), result["audio"]
            tops[(name, runtime)] = result["top"]
            inproc_x[(name, runtime)] = audio_s / i
            target = TARGETS.get(name)
            verdict = (
                "-"
                if target is None or not on_cli
                else ("PASS" if audio_s / c >= target else "MISS")
            )
            rows.append(
                [
                    name,
                    runtime,
                    f"{c:.2f}" if on_cli else "-",
                    f"{audio_s / c:.0f}x" if on_cli else "-",
                    f"{i:.2f}",
                    f"{len(files) / i:.1f}",
                    f"{audio_s / i:.0f}x",
                    "-" if target is None else f">= {target:.0f}x",
                    verdict,
                    mib(rss) if on_cli else "-",
                ]
            )
            rate = result["macs"] * result["windows"] / i
            peak = ceiling["int8"] if runtime.endswith("int8") else ceiling["fp32"]
            fractions.append(
                [
                    name,
                    runtime,
                    f"{result['macs'] / 1e9:.3f}",
                    f"{rate / 1e9:.1f}",
                    f"{rate / peak:.0%}" if peak else "-",
                ]
            )
            if "frontend" in result:
                front = result["frontend"]
                fractions.append(
                    [
                        f"{name} front end",
                        "torch",
                        "1 patch/pass",
                        f"{front / 1e9:.1f}",
                        f"{front / ceiling['fp32']:.0%} (target >= {FRONTEND_CEILING_TARGET:.0%})",
                    ]
                )
    print(f"audio: {audio_s / 60:.1f} min")
    headers = ["model", "runtime", "command s", "x real time", "in-proc s", "tracks/s"]
    headers += ["x real time", "target (command)", "result", "peak RSS"]
    print(format_table(headers, rows))
    print()
    int8 = f"{ceiling['int8'] / 1e9:.1f}" if ceiling["int8"] else "n/a"
    print(
        f"ceiling on {args.workers} threads: fp32 {ceiling['fp32'] / 1e9:.1f} GMAC/s "
        f"(torch.mm 2048^3), int8 {int8} GMAC/s (onnxruntime MatMulInteger 2048^3)"
    )
    headers = ["model", "runtime", "GMAC/window", "achieved GMAC/s", "of ceiling (in-proc)"]
    print(format_table(headers, fractions))
    for name in bundles:
        for runtime in runtimes[1:]:
            if ("torch" in runtimes) and (name, runtime) in tops:
                a, b = tops[(name, "torch")], tops[(name, runtime)]
                same = sum(x == y for x, y in zip(a, b, strict=True))
                print(f"{name}: {runtime} top genre = torch's on {same}/{len(a)} files")
    musicnn = [n for n in bundles if "musicnn" in str(n)]
    if musicnn:
        print()
        compare_with_baselines(args, musicnn[0], files_json, inproc_x, python)
    print(load_note())


def compare_with_baselines(args, name, files_json, inproc_x, python) -> None:
    """The musicnn-based model against the recorded TF figure and a user's librosa script."""
    lines = [f"original TensorFlow musicnn (recorded, not run here): {args.baseline_x_real_time}x"]
    user = None
    if not args.no_user_baseline:
        result = python("--user-worker", name, str(files_json))
        user = result["audio"] / result["seconds"]
        lines.append(f"librosa + PyTorch musicnn, as a user would write it: {user:.0f}x")
    for (model, runtime), x in inproc_x.items():
        if model != name:
            continue
        ratio = f"{x / args.baseline_x_real_time:.1f}x the recorded TF figure"
        if user:
            ratio += f", {x / user:.1f}x the librosa script"
        lines.append(f"{name} {runtime} in process: {x:.0f}x real time ({ratio})")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
