"""Train / validation / test splits by track, never by segment; grouped by artist when known.

``auto`` picks the most honest split the collection allows: the source's own split (FMA, a CSV
with a split column, GTZAN's artist-filtered split when the collection holds most of it), else
grouped by artist when every track knows its group, else stratified by genre.
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genrenet.data.tracks import Collection

SPLIT_METHODS = ("auto", "stratified", "grouped", "filtered", "source")
GTZAN_FILTERED_MIN_COVERAGE = 0.5
"""The filtered GTZAN split is used when the collection holds at least this share of its tracks."""


@dataclass
class Split:
    """Indices into ``collection.tracks`` for each part, how they were chosen, and why."""

    train: list[int]
    valid: list[int]
    test: list[int]
    method: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self, collection: Collection) -> dict:
        """JSON-ready record of the split: method, notes and the track ids of each part."""

        def ids(idx: list[int]) -> list[str]:
            return [track_id(collection, i) for i in idx]

        return {
            "method": self.method,
            "notes": self.notes,
            "train": ids(self.train),
            "valid": ids(self.valid),
            "test": ids(self.test),
        }


def track_id(collection: Collection, index: int) -> str:
    track = collection.tracks[index]
    return track.source_id or str(track.path)


def make_split(
    collection: Collection,
    method: str | Path = "auto",
    valid_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Split:
    """Split ``collection`` by track; ``method`` is one of SPLIT_METHODS or a split file."""
    if not collection.tracks:
        raise ValueError(f"{collection.name}: no tracks to split")
    if (
        not 0 < test_fraction < 1
        or not 0 <= valid_fraction < 1
        or valid_fraction + test_fraction >= 1
    ):
        raise ValueError(
            f"need 0 < test_fraction, 0 <= valid_fraction and their sum < 1; got "
            f"valid={valid_fraction}, test={test_fraction}"
        )
    if isinstance(method, Path) or method not in SPLIT_METHODS:
        return split_from_file(collection, Path(method))
    if method == "auto":
        return _auto(collection, valid_fraction, test_fraction, seed)
    if method == "source":
        if not collection.has_splits:
            raise ValueError(f"{collection.name}: the source assigns no splits")
        return _source_split(collection, "source")
    if method == "filtered":
        if collection.kind != "gtzan":
            raise ValueError(f"{collection.name}: the filtered split exists for GTZAN only")
        return _source_split(collection, "filtered")
    if method == "grouped":
        if not collection.has_groups:
            raise ValueError(f"{collection.name}: 'grouped' needs an artist/group for every track")
        return _random_split(collection, valid_fraction, test_fraction, seed, grouped=True)
    return _random_split(collection, valid_fraction, test_fraction, seed, grouped=False)


def _auto(collection: Collection, valid_fraction: float, test_fraction: float, seed: int) -> Split:
    if collection.kind == "gtzan":
        from genrenet.data.gtzan import filtered_coverage

        coverage = filtered_coverage(collection)
        if coverage >= GTZAN_FILTERED_MIN_COVERAGE:
            return _source_split(collection, "filtered")
        split = _random_split(collection, valid_fraction, test_fraction, seed, grouped=False)
        split.notes.append(
            f"the collection holds only {coverage:.0%} of the artist-filtered GTZAN split, too "
            "little to use it; fell back to a stratified track-level split (artists may repeat "
            "across parts, so accuracy is optimistic)"
        )
        return split
    if collection.has_splits:
        parts = {t.split for t in collection.tracks}
        if {"train", "test"} <= parts:
            return _source_split(collection, "source")
    if collection.has_groups:
        return _random_split(collection, valid_fraction, test_fraction, seed, grouped=True)
    return _random_split(collection, valid_fraction, test_fraction, seed, grouped=False)


def _source_split(collection: Collection, method: str) -> Split:
    """Use the split the source itself assigns; tracks it leaves out are not used."""
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    unassigned = 0
    for i, track in enumerate(collection.tracks):
        if track.split in parts:
            parts[track.split].append(i)
        else:
            unassigned += 1
    notes = []
    if unassigned:
        notes.append(f"{unassigned} tracks are in no part of the {method} split and are not used")
    if not parts["train"] or not parts["test"]:
        raise ValueError(f"{collection.name}: the {method} split leaves train or test empty")
    if not parts["valid"]:
        notes.append("the split has no validation part; validating on a tenth of train")
        parts["train"], parts["valid"] = carve(collection, parts["train"], 0.1, 0, grouped=False)
    return Split(parts["train"], parts["valid"], parts["test"], method, notes)


def _random_split(
    collection: Collection, valid_fraction: float, test_fraction: float, seed: int, grouped: bool
) -> Split:
    """Stratified by genre (and grouped by artist when ``grouped``), reproducible from ``seed``."""
    everything = list(range(len(collection.tracks)))
    rest, test = carve(collection, everything, test_fraction, seed, grouped)
    train, valid = rest, []
    if valid_fraction > 0:
        train, valid = carve(
            collection, rest, valid_fraction / (1 - test_fraction), seed + 1, grouped
        )
    return Split(train, valid, test, "grouped" if grouped else "stratified")


def kfold_parts(collection: Collection, n_folds: int, seed: int) -> list[list[int]]:
    """The test part of each of ``n_folds`` folds: stratified by genre, and grouped by artist
    when every track has one (no artist on both sides). Raises ValueError when the groups
    cannot fill the folds."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels = np.array([t.label for t in collection.tracks])
    everything = np.arange(len(collection.tracks))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        if collection.has_groups:
            groups = np.array([t.group for t in collection.tracks])
            n_groups = len(np.unique(groups))
            if n_groups < n_folds:
                raise ValueError(
                    f"{collection.name}: {n_groups} artists/groups cannot fill {n_folds} folds "
                    "without splitting an artist"
                )
            splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            parts = splitter.split(everything, labels, groups)
        else:
            splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            parts = splitter.split(everything, labels)
        return [sorted(test.tolist()) for _, test in parts]


def carve(
    collection: Collection, indices: list[int], fraction: float, seed: int, grouped: bool
) -> tuple[list[int], list[int]]:
    """Split ``indices`` into (kept, carved) with about ``fraction`` carved, per genre (grouped
    by artist when ``grouped``), reproducible from ``seed``."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit

    labels = np.array([collection.tracks[i].label for i in indices])
    idx = np.array(indices)
    _, counts = np.unique(labels, return_counts=True)
    if grouped:
        groups = np.array([collection.tracks[i].group for i in indices])
        n_splits = max(2, int(round(1 / fraction)))
        n_splits = min(n_splits, len(np.unique(groups)))
        if n_splits < 2:
            raise ValueError(f"{collection.name}: too few artists/groups to split by group")
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        kept, carved = next(splitter.split(idx, labels, groups))
    elif counts.min() >= 2 and len(idx) * fraction >= len(counts):
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        kept, carved = next(splitter.split(idx, labels))
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(idx))
        n = max(1, int(round(len(idx) * fraction)))
        carved, kept = order[:n], order[n:]
    return sorted(idx[kept].tolist()), sorted(idx[carved].tolist())


def split_from_file(collection: Collection, path: Path) -> Split:
    """Read a split file: JSON ``{"train": [ids], "valid": [...], "test": [...]}`` or CSV.

    The CSV form is ``id,split`` rows. Ids are track source ids (``blues.00012``,
    ``fma:000002``, a manifest path) or file paths.
    """
    if not path.is_file():
        raise ValueError(
            f"{path}: not a split method ({', '.join(SPLIT_METHODS)}) and no such split file"
        )
    pairs = _read_json_split(path) if path.suffix.lower() == ".json" else _read_csv_split(path)
    assignment: dict[str, str] = {}
    for track_id, part, where in pairs:
        if assignment.get(track_id, part) != part:
            raise ValueError(
                f"{path}: {track_id} is in both {assignment[track_id]} and {part} ({where})"
            )
        assignment[track_id] = part
    if not assignment:
        raise ValueError(f"{path}: no train/valid/test assignments found")
    parts: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    used: set[str] = set()
    unassigned: list[str] = []
    for i, track in enumerate(collection.tracks):
        for key in (track.source_id or "", str(track.path)):
            if key in assignment:
                parts[assignment[key]].append(i)
                used.add(key)
                break
        else:
            unassigned.append(track.source_id or str(track.path))
    if not parts["train"] or not parts["test"]:
        raise ValueError(f"{path}: matches no train or no test track of {collection.name}")
    split = Split(parts["train"], parts["valid"], parts["test"], f"file:{path.name}")
    unknown = [track_id for track_id in assignment if track_id not in used]
    if unknown:
        split.notes.append(
            f"{path.name}: {len(unknown)} id(s) match no track of {collection.name} and are "
            f"ignored: {_some(unknown)}"
        )
    if unassigned:
        split.notes.append(
            f"{path.name}: {len(unassigned)} track(s) of {collection.name} are in no part and "
            f"are left out: {_some(unassigned)}"
        )
    if not split.valid:
        split.train, split.valid = carve(collection, split.train, 0.1, 0, grouped=False)
        split.notes.append("the split file has no validation part; validating on a tenth of train")
    return split


def _some(names: list[str], n: int = 5) -> str:
    """The first ``n`` names, and how many more."""
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _read_json_split(path: Path) -> list[tuple[str, str, str]]:
    """``(id, part, where)`` from ``{"train": [ids], "valid": [...], "test": [...]}``; every
    problem (invalid JSON, a list, an unknown part, an id that is not a string) named."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(
            f'{path}: expected an object {{"train": [ids], "valid": [ids], "test": [ids]}}, '
            f"got a JSON {type(data).__name__}"
        )
    unknown = sorted(set(data) - {"train", "valid", "test"})
    if unknown:
        raise ValueError(f"{path}: unknown part(s) {unknown}; use train, valid and test")
    pairs = []
    for part in ("train", "valid", "test"):
        ids = data.get(part, [])
        if not isinstance(ids, list):
            raise ValueError(f"{path}: {part} must be a list of track ids, got {ids!r:.60}")
        for i, track_id in enumerate(ids):
            if not isinstance(track_id, str):
                raise ValueError(f"{path}: {part}[{i}] must be a track id string, got {track_id!r}")
            pairs.append((track_id, part, f"{part}[{i}]"))
    return pairs


def _read_csv_split(path: Path) -> list[tuple[str, str, str]]:
    """``(id, part, where)`` from ``id,split`` rows (a header row is allowed)."""
    pairs = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.reader(fh), start=1):
                if not row or not any(cell.strip() for cell in row):
                    continue
                part = row[1].strip().lower() if len(row) >= 2 else ""
                if part not in ("train", "valid", "test"):
                    if line == 1:
                        continue  # a header
                    raise ValueError(
                        f"{path} line {line}: expected id,split with split train, valid or "
                        f"test, got {','.join(row)!r:.80}"
                    )
                pairs.append((row[0].strip(), part, f"line {line}"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    return pairs
