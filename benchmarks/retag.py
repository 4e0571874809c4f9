"""Time per file and files per second of ``genrenet retag`` on gtzan-mini copied into every
format it writes, side by side with its baseline: prediction alone on the same files.

Each clip is converted to MP3, FLAC, Ogg Vorbis, Opus, M4A (AAC), WAV, AIFF and WMA (titles and
artists set, half of them with a genre already). Then, in one process with the model loaded
once, as the command does:

- baseline: ``Classifier.predict_files`` over every file (decoding ahead, the model once);
- dry run: :func:`genrenet.library.plan` (tags read, then prediction) over the same files;
- write: each planned entry written (copy, tag, journal record fsynced, replace), per format;
- undo: every value restored from the journal, per format.

A whole ``retag --write`` costs dry run + write. Every file's decoded audio is compared before
and after the write (PyAV), as a check that nothing but tags changed.

    .venv/bin/python benchmarks/retag.py [--data DIR] [--clips 10] [--model gtzan-musicnn]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, repo_root  # noqa: E402

DEFAULT_DATA = repo_root().parent / "shared" / "data" / "gtzan-mini"
FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff", "wma")


def convert(clip: Path, out: Path, fmt: str, genre: str | None) -> Path:
    """``clip`` re-encoded as ``fmt`` in ``out`` with a title, an artist and maybe a genre."""
    import av
    import mutagen
    import numpy as np
    import soundfile as sf

    y, sr = sf.read(clip, dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    path = out / f"{clip.stem}.{fmt}"
    if fmt in ("m4a", "wma"):
        with av.open(str(path), "w", format="mp4" if fmt == "m4a" else "asf") as o:
            stream = o.add_stream("aac" if fmt == "m4a" else "wmav2", rate=sr)
            stream.layout = "mono"
            stream.bit_rate = 128000
            frame = av.AudioFrame.from_ndarray(y[None, :], format="fltp", layout="mono")
            frame.sample_rate = sr
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                o.mux(packet)
    elif fmt == "opus":
        import soxr

        sf.write(path, soxr.resample(y, sr, 48000), 48000, format="OGG", subtype="OPUS")
    else:
        sf.write(path, np.asarray(y), sr)
    audio = mutagen.File(path, easy=fmt not in ("wav", "aiff"))
    if audio.tags is None:
        audio.add_tags()
    if fmt in ("wav", "aiff"):
        from mutagen.id3 import TCON, TIT2, TPE1

        audio.tags.add(TIT2(encoding=3, text=clip.stem))
        audio.tags.add(TPE1(encoding=3, text="GTZAN"))
        if genre:
            audio.tags.add(TCON(encoding=3, text=genre))
    elif fmt == "wma":
        audio["Title"], audio["Author"] = [clip.stem], ["GTZAN"]
        if genre:
            audio["WM/Genre"] = [genre]
    else:
        audio["title"], audio["artist"] = clip.stem, "GTZAN"
        if genre:
            audio["genre"] = genre
    audio.save()
    return path


def audio_md5(path: Path) -> str:
    """MD5 of the decoded audio frames."""
    import av
    import numpy as np

    with av.open(str(path)) as c:
        return hashlib.md5(
            np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)]).tobytes()
        ).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--clips", type=int, default=10, help="clips per format (spread over)")
    parser.add_argument("--model", default="gtzan-musicnn")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from genrenet.classifier import Classifier
    from genrenet.library import Journal, RetagOptions, plan, summarize, undo, write_entry

    clips = sorted(args.data.rglob("*.flac"))
    if not clips:
        sys.exit(f"error: no FLAC clips under {args.data}")
    step = max(1, len(clips) // args.clips)
    clips = clips[::step][: args.clips]
    load = os.getloadavg()[0]
    print(f"{len(clips)} clips x {len(FORMATS)} formats; load average {load:.1f} on "
          f"{os.cpu_count()} CPUs (figures are inflated when it is high)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="genrenet-retag-bench-") as tmp:
        root = Path(tmp)
        files: dict[str, list[Path]] = {}
        for fmt in FORMATS:
            (root / fmt).mkdir()
            files[fmt] = [
                convert(c, root / fmt, fmt, "Unknown" if i % 2 else None)
                for i, c in enumerate(clips)
            ]
        every = [p for fmt in FORMATS for p in files[fmt]]
        before = {p: audio_md5(p) for p in every}

        clf = Classifier.load(args.model)
        options = RetagOptions(mode="replace", min_score=0.0)
        start = time.perf_counter()
        predicted = list(clf.predict_files(every, top_k=1, workers=args.workers))
        t_predict = time.perf_counter() - start
        start = time.perf_counter()
        entries = list(plan(every, clf, options, workers=args.workers))
        t_plan = time.perf_counter() - start
        assert all(p.error is None for p in predicted)

        write_ms = {}
        journal_path = root / "journal.jsonl"
        by_path = {e.path: e for e in entries}
        with Journal(journal_path) as journal:
            journal.start([str(root)], options.to_dict(), args.model)
            for fmt in FORMATS:
                start = time.perf_counter()
                for p in files[fmt]:
                    write_entry(by_path[p.absolute()], options, journal, args.model)
                write_ms[fmt] = 1000 * (time.perf_counter() - start) / len(files[fmt])
        written = summarize(entries)
        audio_kept = sum(audio_md5(p) == before[p] for p in every)
        restored = {}
        start = time.perf_counter()
        for entry in undo(journal_path):
            restored[entry.path] = entry.status
        t_undo = time.perf_counter() - start

    n = len(every)
    t_write = sum(write_ms[f] * len(files[f]) for f in FORMATS) / 1000
    rows = [
        [fmt, len(files[fmt]), f"{write_ms[fmt]:.1f}", f"{1000 / write_ms[fmt]:.0f}"]
        for fmt in FORMATS
    ]
    print(format_table(["format", "files", "tag write ms/file", "tag writes/s"], rows))
    print()
    rows = [
        ["predict only (baseline)", f"{t_predict:.1f}", f"{1000 * t_predict / n:.0f}",
         f"{n / t_predict:.2f}", "1.00"],
        ["retag dry run", f"{t_plan:.1f}", f"{1000 * t_plan / n:.0f}", f"{n / t_plan:.2f}",
         f"{t_plan / t_predict:.2f}"],
        ["retag --write (dry run + writes)", f"{t_plan + t_write:.1f}",
         f"{1000 * (t_plan + t_write) / n:.0f}", f"{n / (t_plan + t_write):.2f}",
         f"{(t_plan + t_write) / t_predict:.2f}"],
        ["retag --undo", f"{t_undo:.1f}", f"{1000 * t_undo / n:.0f}", f"{n / t_undo:.2f}", ""],
    ]  # fmt: skip
    print(format_table(["step", "s", "ms/file", "files/s", "x predict time"], rows))
    print(
        f"\n{written['written']} of {n} files written, decoded audio equal after writing in "
        f"{audio_kept} of {n}; {sum(s == 'restored' for s in restored.values())} restored by "
        f"undo; model {args.model}"
    )


if __name__ == "__main__":
    main()
