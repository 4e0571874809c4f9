"""``--windows K``: how often K evenly spread windows give the full song's top-1 answer, the
accuracy, and the speed-up, for K = 1, 3, 5, 10, against every window, in one run.

    .venv/bin/python benchmarks/windows.py                       # gtzan-mini and gtzan-more
    .venv/bin/python benchmarks/windows.py --model M --data DIR [--data DIR2] [--limit N]

Each file is decoded once (the decode and features time is shared by every K and counted in
each); the scoring of every window and of each K is timed on the same features, side by side.
Accuracy uses the folder name as the truth, with a 95% Wilson interval and macro recall. The
bundled gtzan-musicnn was fitted on 70 gtzan-mini clips: its gtzan-mini accuracy is partly on
training clips, gtzan-more's is on clips it never saw.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, load_note, repo_root  # noqa: E402

KS = (1, 3, 5, 10)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def macro_recall(truth: list[str], pred: list[str]) -> float:
    labels = sorted(set(truth))
    return float(
        np.mean(
            [np.mean([p == t for t, p in zip(truth, pred, strict=True) if t == g]) for g in labels]
        )
    )


def measure(clf, files: list[Path]) -> dict:
    """Per K (None = every window): predictions, scoring seconds; plus the shared decode time."""
    decode_s = 0.0
    scoring = {k: 0.0 for k in (None, *KS)}
    preds: dict = {k: [] for k in (None, *KS)}
    for path in files:
        t0 = time.perf_counter()
        feats = clf.features_of(path)
        decode_s += time.perf_counter() - t0
        for k in (None, *KS):
            t0 = time.perf_counter()
            pred = clf._summarize(path, feats, 1, None, False, k)
            scoring[k] += time.perf_counter() - t0
            preds[k].append(pred.top[0]["label"])
    return {"decode_s": decode_s, "scoring": scoring, "preds": preds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = repo_root().parent / "shared" / "data"
    parser.add_argument("--model", default="gtzan-musicnn")
    parser.add_argument(
        "--data", action="append", type=Path, help="genre folders (default gtzan-mini, -more)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many files a folder, evenly spaced"
    )
    args = parser.parse_args()
    folders = args.data or [shared / "gtzan-mini", shared / "gtzan-more"]
    folders = [f for f in folders if f.is_dir()]
    if not folders:
        print("no data found; nothing measured")
        return
    from genrenet.classifier import Classifier

    clf = Classifier.load(args.model)
    print(f"model {args.model}: {clf.describe()}; {load_note()}")
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if p.suffix in (".flac", ".ogg", ".wav"))
        if args.limit and len(files) > args.limit:
            files = [files[i] for i in np.linspace(0, len(files) - 1, args.limit).astype(int)]
        truth = [p.parent.name for p in files]
        result = measure(clf, files)
        full = result["preds"][None]
        base_s = result["decode_s"] + result["scoring"][None]
        rows = []
        for k in (None, *KS):
            pred = result["preds"][k]
            agree = sum(a == b for a, b in zip(pred, full, strict=True))
            right = sum(a == b for a, b in zip(pred, truth, strict=True))
            lo, hi = wilson(right, len(files))
            total_s = result["decode_s"] + result["scoring"][k]
            rows.append(
                [
                    "all" if k is None else str(k),
                    f"{agree}/{len(files)} ({agree / len(files):.0%})",
                    f"{right / len(files):.1%} [{lo:.1%}, {hi:.1%}]",
                    f"{macro_recall(truth, pred):.1%}",
                    f"{result['scoring'][k]:.1f}",
                    f"{total_s:.1f}",
                    f"{base_s / total_s:.2f}x",
                    f"{result['scoring'][None] / result['scoring'][k]:.1f}x",
                ]
            )
        print(f"\n{folder.name}: {len(files)} clips; decode + features {result['decode_s']:.1f} s")
        print(
            format_table(
                [
                    "K",
                    "top-1 = full song",
                    "accuracy [95% CI]",
                    "macro recall",
                    "scoring s",
                    "total s",
                    "speed-up",
                    "scoring speed-up",
                ],
                rows,
            )
        )


if __name__ == "__main__":
    main()
