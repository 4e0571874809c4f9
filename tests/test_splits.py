"""Splits are by track, stratified by genre, grouped by artist when known, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genrenet.data.splits import make_split
from genrenet.data.tracks import Collection, Track


def collection(
    n_per_genre: int = 20, genres=("a", "b", "c"), groups: int | None = None, kind: str = "folders"
) -> Collection:
    tracks = []
    for g in genres:
        for i in range(n_per_genre):
            group = None if groups is None else f"{g}-artist{i % groups}"
            tracks.append(Track(Path(f"/x/{g}/{i}.wav"), g, group=group, source_id=f"{g}.{i:05d}"))
    return Collection("test", tracks, kind=kind)


def parts_of(split) -> list[set[int]]:
    return [set(split.train), set(split.valid), set(split.test)]


def test_stratified_split_is_disjoint_complete_balanced_reproducible() -> None:
    c = collection()
    split = make_split(c, "stratified", valid_fraction=0.1, test_fraction=0.2, seed=3)
    train, valid, test = parts_of(split)
    assert not (train & valid or train & test or valid & test)
    assert train | valid | test == set(range(len(c)))
    for genre in "abc":
        assert sum(c.tracks[i].label == genre for i in test) == 4
    assert make_split(c, "stratified", seed=3).test == split.test
    assert make_split(c, "stratified", seed=4).test != split.test


def test_grouped_split_never_shares_an_artist() -> None:
    c = collection(groups=5)
    split = make_split(c, "auto")
    assert split.method == "grouped"
    groups = [{c.tracks[i].group for i in part} for part in parts_of(split)]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert all(part for part in parts_of(split))


def test_source_split_used_by_auto_and_gtzan_filtered_fallback() -> None:
    c = collection(n_per_genre=10)
    tracks = [
        Track(
            t.path, t.label, split=("train", "train", "valid", "test")[i % 4], source_id=t.source_id
        )
        for i, t in enumerate(c.tracks)
    ]
    with_split = Collection("s", tracks, kind="manifest")
    split = make_split(with_split, "auto")
    assert split.method == "source"
    assert all(tracks[i].split == "test" for i in split.test)
    gtzan_like = Collection("g", c.tracks, kind="gtzan")
    fallback = make_split(gtzan_like, "auto")
    assert fallback.method == "stratified"
    assert any("fell back" in note for note in fallback.notes)


def test_split_file(tmp_path: Path) -> None:
    c = collection(n_per_genre=4)
    spec = {
        "train": [t.source_id for t in c.tracks[:8]],
        "test": [t.source_id for t in c.tracks[8:]],
    }
    (tmp_path / "split.json").write_text(json.dumps(spec))
    split = make_split(c, tmp_path / "split.json")
    assert set(split.test) == set(range(8, 12))
    assert set(split.train) | set(split.valid) == set(range(8))
    with pytest.raises(ValueError, match="no such split file"):
        make_split(c, "nonsense")


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="group"):
        make_split(collection(), "grouped")
    with pytest.raises(ValueError, match="GTZAN"):
        make_split(collection(), "filtered")
    with pytest.raises(ValueError):
        make_split(collection(), "stratified", test_fraction=0.0)
