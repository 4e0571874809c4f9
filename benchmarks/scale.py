"""Library scale: files per second of ``genrenet predict --out`` on the local engine and on Ray
(a local Ray on this machine), side by side in one run; the Ray overhead as a ratio; the peak
memory of every process; and, with ``--memory``, the flat-memory and kill -9 / resume check.

    .venv/bin/python benchmarks/scale.py --data ../shared/data/gtzan-mini --files 1000
    .venv/bin/python benchmarks/scale.py --data DIR --files 10000 --memory --model BUNDLE

The input is the data folder's audio files repeated through symlinks (unique names) in a
temporary folder up to ``--files``, listed in a file and given with ``--from-list``. Every run
is the whole command (start-up, imports, for Ray its start too) in a subprocess; peak memory
per process is read from ``/proc/PID/status`` (VmHWM) of the command and all its descendants,
sampled every 0.2 s (Ray's workers are not children the command waits for).

``--memory``: one pass of the local engine over ``--files``: its peak RSS when 1,000 records
are written, a SIGKILL at half, ``--resume`` to the end and the resumed command's peak RSS there
(which should agree within 10%: nothing grows with the number of files, and the resumed command
also holds the set of paths already done); the output must then hold exactly one record per
file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, load_note, mib, repo_root  # noqa: E402

AUDIO = (".flac", ".ogg", ".wav", ".mp3")


def make_inputs(data: Path, n: int, folder: Path) -> Path:
    """``n`` symlinks to the data's audio files (repeated), and a list file naming them."""
    sources = sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO)
    if not sources:
        sys.exit(f"error: no audio files in {data}")
    links = folder / "links"
    links.mkdir(parents=True, exist_ok=True)
    listing = folder / "list.txt"
    with open(listing, "w") as fh:
        for i in range(n):
            src = sources[i % len(sources)]
            link = links / f"{i:06d}_{src.name}"
            if not link.is_symlink():
                link.symlink_to(src.resolve())
            fh.write(f"{link}\n")
    return listing


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def peak_kb(pid: int) -> tuple[str, int] | None:
    """The process's name and peak resident memory (VmHWM, kB)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        return cmd[:60] or fields["Name"].strip(), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError, IndexError):
        return None


class Sampler(threading.Thread):
    """Peak RSS of a command and its descendants, sampled until it exits."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[int, tuple[str, int]] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for pid in descendants(self.pid):
                seen = peak_kb(pid)
                if seen is not None and seen[1] >= self.peaks.get(pid, ("", 0))[1]:
                    self.peaks[pid] = seen
            time.sleep(0.2)


def run(
    cmd: list[str],
    kill_after: int | None = None,
    out: Path | None = None,
    sample_at: int | None = None,
) -> dict:
    """Run ``cmd``; returns wall seconds, exit code and the peak memory of each process. With
    ``kill_after`` it is killed (SIGKILL) once ``out`` holds that many lines; ``sample_at``
    records the command's peak RSS when ``out`` holds that many."""
    start = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    sampled = None
    series: dict[int, int] = {}  # records in the output -> the command's peak RSS then (kB)
    if out is not None:
        while proc.poll() is None:
            lines = out.read_bytes().count(b"\n") if out.exists() else 0
            peak = (peak_kb(proc.pid) or ("", 0))[1]
            if peak and lines // 1000 * 1000 not in series and lines >= 1000:
                series[lines // 1000 * 1000] = peak
            if sampled is None and sample_at is not None and lines >= sample_at:
                sampled = peak
            if kill_after is not None and lines >= kill_after:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.5)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    sampler.stopped.set()
    sampler.join()
    return {
        "wall_s": wall,
        "rc": proc.returncode,
        "peaks": sampler.peaks,
        "stderr": err,
        "sampled": sampled,
        "series": series,
        "cpu_s": cpu,  # the command and the children it waited for (not Ray's daemons)
    }


def records(out: Path) -> list[str]:
    """Paths of the complete records in a JSON Lines output."""
    with open(out, "rb") as fh:
        return [json.loads(line)["path"] for line in fh if line.endswith(b"\n") and line.strip()]


def command(args, listing: Path, out: Path, n: int | None = None) -> list[str]:
    genrenet = str(repo_root() / ".venv" / "bin" / "genrenet")
    cmd = [genrenet, "predict", "--model", args.model, "--from-list", str(listing)]
    cmd += ["--out", str(out)]
    if args.windows:
        cmd += ["--windows", str(args.windows)]
    return cmd


def throughput(args, listing: Path, n: int, tmp: Path) -> None:
    rows, walls = [], {}
    for engine in ("local", "ray"):
        out = tmp / f"{engine}.jsonl"
        cmd = command(args, listing, out) + ["--engine", engine]
        result = run(cmd)
        if result["rc"] not in (0, 1):
            sys.exit(f"error: {engine} run failed:\n{result['stderr'][-2000:]}")
        got = len(records(out))
        walls[engine] = result["wall_s"]
        peaks = sorted(result["peaks"].values(), key=lambda p: -p[1])
        rows.append(
            [
                engine,
                str(got),
                f"{result['wall_s']:.1f}",
                f"{got / result['wall_s']:.2f}",
                f"{result['cpu_s'] / max(got, 1):.3f}" if engine == "local" else "n/a",
                str(len(peaks)),
                mib(peaks[0][1]) if peaks else "?",
                mib(sum(p[1] for p in peaks)),
            ]
        )
        print(f"{engine}: processes by peak RSS:")
        for name, kb in peaks[:8]:
            print(f"   {mib(kb):>10}  {name}")
    print(
        format_table(
            [
                "engine",
                "files",
                "wall s",
                "files/s",
                "CPU s/file",
                "processes",
                "largest peak",
                "sum of peaks",
            ],
            rows,
        )
    )
    print(f"Ray overhead: Ray wall / local wall = {walls['ray'] / walls['local']:.2f}")


def memory_check(args, listing: Path, n: int, tmp: Path) -> None:
    """One pass over ``n`` files: peak RSS when 1,000 records are written, SIGKILL at half,
    ``--resume`` to the end, peak RSS of the resumed command at the end; then the records."""
    out = tmp / "killed.jsonl"
    first = run(command(args, listing, out), kill_after=n // 2, out=out, sample_at=1000)
    before = len(records(out))
    second = run(command(args, listing, out) + ["--resume"], out=out)
    at_1000 = first["sampled"]
    at_end = max(p[1] for p in second["peaks"].values())
    print(f"peak RSS after 1000 files: {mib(at_1000)} (first command, {first['wall_s']:.0f} s)")
    print(f"peak RSS at {n} files: {mib(at_end)} (resumed command, {second['wall_s']:.0f} s)")
    for name, part in (("first", first), ("resumed", second)):
        steps = ", ".join(f"{k}: {mib(v)}" for k, v in sorted(part["series"].items()))
        print(f"{name} command's peak RSS by records in the output: {steps}")
    ratio = at_end / at_1000
    verdict = "within" if abs(ratio - 1) <= 0.1 else "OUTSIDE"
    print(f"ratio {ratio:.3f} ({verdict} 10%)")
    paths = records(out)
    expected = set(listing.read_text().splitlines())
    once = len(paths) == len(set(paths))
    print(
        f"kill -9 after {before} records (exit {first['rc']}), --resume exit {second['rc']}: "
        f"{len(paths)} records, {len(set(paths))} distinct, "
        + ("exactly one per file" if once and set(paths) == expected else "MISMATCH")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=repo_root().parent / "shared" / "data" / "gtzan-mini"
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--model", default="gtzan-musicnn")
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument("--memory", action="store_true", help="the flat-memory and resume check")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data} not found; nothing measured")
        return
    windows = args.windows or "all"
    print(f"{args.files} files from {args.data}, model {args.model}, windows {windows}")
    print(load_note(), flush=True)
    with tempfile.TemporaryDirectory(prefix="genrenet-scale-") as name:
        tmp = Path(name)
        listing = make_inputs(args.data, args.files, tmp)
        if args.memory:
            memory_check(args, listing, args.files, tmp)
        else:
            throughput(args, listing, args.files, tmp)


if __name__ == "__main__":
    main()
