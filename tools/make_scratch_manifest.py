"""Write the manifest that trains the from-scratch reference of the bundled model's search.

    python tools/make_scratch_manifest.py --data ../shared/data --out runs/scratch/manifest.csv
    genrenet train runs/scratch/manifest.csv --split source --model resnet --features logmel \\
        --class-weights --augment specaugment --epochs 40 --patience 10 --crops-per-track 6 \\
        --out runs/scratch/resnet

Parts (the manifest's ``split`` column): ``train``, the filtered train clips plus the excerpts
cut from filtered-train clips; ``valid`` (early stopping, the temperature), the last fifth by
clip number of each genre's filtered train clips (consecutive GTZAN clips often share an
artist, so a block keeps most artists on one side), for genres with at least 6 train clips;
``test``, the 105 filtered valid clips, which the search compares every model on. Excerpts of
filtered-valid clips are left out (their artists are those of the test part).
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from pathlib import Path

from genrenet.data.gtzan import filtered_split
from genrenet.files import atomic_write

HOLD_OUT = 0.2
MIN_CLIPS = 6


def manifest_rows(root: Path) -> list[tuple[str, str, str]]:
    """``(absolute path, label, part)`` of every clip and train-list excerpt."""
    with open(root / "gtzan-filtered.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    train: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r["split"] == "train":
            train[r["label"]].append(r["path"])
    held = set()
    for paths in train.values():
        k = round(HOLD_OUT * len(paths)) if len(paths) >= MIN_CLIPS else 0
        held.update(sorted(paths)[len(paths) - k :] if k else [])
    out = []
    for r in rows:
        path = str(root / r["path"])
        if r["split"] == "train":
            out.append((path, r["label"], "valid" if r["path"] in held else "train"))
        elif r["split"] == "valid":
            out.append((path, r["label"], "test"))
    train_list = set(filtered_split()["train"])
    for path in sorted((root / "gtzan-excerpts").rglob("*.flac")):
        if path.stem in train_list:
            out.append((str(path), path.parent.name, "train"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/scratch/manifest.csv"))
    args = parser.parse_args()
    rows = manifest_rows(args.data.resolve())
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["path", "label", "split"])
    writer.writerows(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, text.getvalue())
    counts = {p: sum(1 for r in rows if r[2] == p) for p in ("train", "valid", "test")}
    print(f"{args.out}: {counts}")


if __name__ == "__main__":
    main()
