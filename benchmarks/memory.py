"""Peak memory of ``genrenet predict`` against the song's length: 1, 10, 60 and 120 minutes.

Synthetic noise (FLAC, 22050 Hz mono) of each length is written once into a temporary folder,
and ``genrenet predict FILE --json`` runs on it as a subprocess; its peak resident memory
(``ru_maxrss``) is the figure. Target with the bundled model (gtzan-musicnn): the 120-minute
song within 10% of the 10-minute one, and under 600 MB. ``--baseline PATH`` runs a second
``genrenet`` (e.g. another checkout's ``.venv/bin/genrenet``) side by side on the same files, in
alternating order, so that both see the same machine load.

    .venv/bin/python benchmarks/memory.py [--minutes 1,10,60,120] [--model gtzan-musicnn]
        [--baseline /work/main/.venv/bin/genrenet]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, load_note, mib, repo_root, run_measured  # noqa: E402

SR = 22050
TARGET_RATIO = 1.10
TARGET_MB = 600


def write_noise(path: Path, minutes: int, seed: int = 0) -> Path:
    """``minutes`` of quiet noise, written a minute at a time (never held whole)."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", SR, 1, "PCM_16") as f:
        for _ in range(minutes):
            f.write((0.05 * rng.standard_normal(SR * 60)).astype(np.float32))
    return path


def peak_rss_kb(genrenet: str, song: Path, model: str) -> int:
    """Peak resident memory (KB) of one ``genrenet predict --json`` run."""
    result = run_measured([genrenet, "predict", str(song), "--model", model, "--json"])
    return result.check(f"{genrenet} predict {song.name}").max_rss_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,10,60,120", help="Song lengths, comma-separated.")
    parser.add_argument("--model", default="gtzan-musicnn", help="Model folder or bundled name.")
    parser.add_argument(
        "--genrenet", default=str(repo_root() / ".venv" / "bin" / "genrenet"), help="Measured."
    )
    parser.add_argument("--baseline", help="Another genrenet executable, measured beside it.")
    args = parser.parse_args()
    minutes = [int(m) for m in args.minutes.split(",")]
    runs = {"this": args.genrenet, **({"baseline": args.baseline} if args.baseline else {})}
    peaks: dict[str, dict[int, int]] = {name: {} for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(minutes):
            song = write_noise(Path(tmp) / f"noise-{m}min.flac", m)
            order = list(runs.items()) if i % 2 == 0 else list(reversed(runs.items()))
            for name, exe in order:
                peaks[name][m] = peak_rss_kb(exe, song, args.model)
                print(f"{name}: {m} min -> {mib(peaks[name][m])}", file=sys.stderr, flush=True)
            song.unlink()
    reference = 10 if 10 in minutes else minutes[0]
    headers = [
        "minutes",
        *(f"{name} peak RSS" for name in runs),
        *(f"{n} vs {reference} min" for n in runs),
    ]
    rows = [
        [str(m)]
        + [mib(peaks[n][m]) for n in runs]
        + [f"{peaks[n][m] / peaks[n][reference]:.2f}x" for n in runs]
        for m in minutes
    ]
    print(f"peak RSS of genrenet predict --model {args.model} --json on synthetic noise")
    print(format_table(headers, rows))
    longest = max(minutes)
    ratio = peaks["this"][longest] / peaks["this"][reference]
    mb = peaks["this"][longest] * 1024 / 1e6
    print(
        f"target: {longest} min within {TARGET_RATIO - 1:.0%} of {reference} min "
        f"({ratio:.2f}x: {'met' if ratio <= TARGET_RATIO else 'missed'}) and under {TARGET_MB} MB "
        f"({mb:.0f} MB: {'met' if mb < TARGET_MB else 'missed'})"
    )
    print(load_note())


if __name__ == "__main__":
    main()
