"""CSV manifests: ``path,label[,group][,split]`` with paths relative to the CSV file."""

from __future__ import annotations

import csv
from pathlib import Path

from genrenet.data.tracks import Collection, Skipped, Track

SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "test": "test",
}
"""Accepted spellings of split names, mapped to genrenet's three."""


def _check_duplicate(
    csv_path: Path, seen: dict[Path, tuple[int, str]], key: Path, line: int, label: str, raw: str
) -> None:
    """Refuse a file listed twice: it could land in train and test at once (a leak)."""
    if key in seen:
        first, first_label = seen[key]
        labels = f" with two labels ({first_label!r}, {label!r})" if first_label != label else ""
        raise ValueError(
            f"{csv_path} lines {first} and {line}: {raw} is listed twice{labels}; "
            "list each file once"
        )
    seen[key] = (line, label)


def load_manifest(csv_path: Path) -> Collection:
    """Read a manifest; rows whose file is missing are skipped with a reason.

    A header row is required; ``path`` and ``label`` columns are mandatory, ``group`` and
    ``split`` optional. Bad structure, and a file listed twice, raise ``ValueError`` naming the
    file and the lines.
    """
    csv_path = Path(csv_path)
    base = csv_path.parent
    tracks: list[Track] = []
    skipped: list[Skipped] = []
    seen: dict[Path, tuple[int, str]] = {}  # resolved path -> (line, label)
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = {"path", "label"} - set(columns)
        if missing:
            raise ValueError(
                f"{csv_path}: manifest needs a header with columns path,label"
                f"[,group][,split]; missing {sorted(missing)}"
            )
        reader.fieldnames = columns
        for line, row in enumerate(reader, start=2):
            raw_path = (row.get("path") or "").strip()
            label = (row.get("label") or "").strip()
            if not raw_path or not label:
                raise ValueError(f"{csv_path} line {line}: empty path or label")
            path = Path(raw_path)
            path = path if path.is_absolute() else base / path
            _check_duplicate(csv_path, seen, path.resolve(), line, label, raw_path)
            split = (row.get("split") or "").strip().lower() or None
            if split is not None and split not in SPLIT_NAMES:
                raise ValueError(
                    f"{csv_path} line {line}: unknown split {split!r}; use train, valid or test"
                )
            if not path.is_file():
                skipped.append(
                    Skipped(path, f"listed in {csv_path.name} line {line} but not found")
                )
                continue
            group = (row.get("group") or "").strip() or None
            tracks.append(
                Track(
                    path=path,
                    label=label,
                    group=group,
                    source_id=raw_path,
                    split=SPLIT_NAMES[split] if split else None,
                )
            )
    return Collection(name=csv_path.stem, tracks=tracks, skipped=skipped, kind="manifest")
