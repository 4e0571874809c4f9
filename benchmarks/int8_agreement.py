"""How far ``--runtime onnx-int8`` strays from fp32: top-1 agreement, largest probability
difference, and accuracy on the artist-filtered valid clips, for one model on real music.

Features are computed once per file; the same windows are scored by the fp32 graph (ONNX Runtime,
equal to PyTorch within 1e-4) and by the int8 one. Collections: gtzan-mini and gtzan-more
(``--data``, any number); accuracy: the ``valid`` rows of ``gtzan-filtered.csv``.

    .venv/bin/python benchmarks/int8_agreement.py [--model gtzan-musicnn] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_note  # noqa: E402

SHARED = Path("/work/shared/data")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gtzan-musicnn")
    parser.add_argument(
        "--data", type=Path, nargs="+", default=[SHARED / "gtzan-mini", SHARED / "gtzan-more"]
    )
    parser.add_argument("--manifest", type=Path, default=SHARED / "gtzan-filtered.csv")
    parser.add_argument("--limit", type=int, help="at most N files per collection")
    args = parser.parse_args()
    import numpy as np

    from genrenet.classifier import Classifier
    from genrenet.data import open_collection

    fp32 = Classifier.load(args.model, runtime="onnx")
    int8 = Classifier.load(args.model, runtime="onnx-int8")
    valid = {}
    if args.manifest.exists():
        with args.manifest.open() as handle:
            for row in csv.DictReader(handle):
                if row["split"] == "valid":
                    valid[(args.manifest.parent / row["path"]).resolve()] = row["label"]
    print(f"{args.model}: onnx-int8 against onnx fp32; {load_note()}")
    start = time.perf_counter()
    agree = total = 0
    worst = 0.0
    correct = {"fp32": 0, "int8": 0}
    n_valid = 0
    for folder in args.data:
        if not folder.is_dir():
            print(f"skipped: {folder} not found")
            continue
        tracks = open_collection(folder).tracks[: args.limit]
        same = 0
        for track in tracks:
            feats = fp32.features_of(track.path)
            a = fp32.window_proba(feats)[0].mean(axis=0)
            b = int8.window_proba(feats)[0].mean(axis=0)
            same += int(a.argmax() == b.argmax())
            worst = max(worst, float(np.abs(a - b).max()))
            label = valid.get(Path(track.path).resolve())
            if label is not None:
                n_valid += 1
                correct["fp32"] += int(fp32.labels[a.argmax()] == label)
                correct["int8"] += int(fp32.labels[b.argmax()] == label)
        print(f"{folder.name}: top-1 agreement {same}/{len(tracks)}")
        agree, total = agree + same, total + len(tracks)
    lo, hi = wilson(agree, total)
    print(
        f"all: top-1 agreement {agree}/{total} ({agree / max(total, 1):.1%}, 95% CI "
        f"{lo:.1%}-{hi:.1%}); largest difference of a track's probability: {worst:.4f}"
    )
    if n_valid:
        print(
            f"filtered valid ({n_valid} tracks of those run): fp32 {correct['fp32']} correct, "
            f"int8 {correct['int8']} correct"
        )
    print(f"{time.perf_counter() - start:.0f} s; {load_note()}")


if __name__ == "__main__":
    main()
