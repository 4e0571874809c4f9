"""Genre folders and CSV manifests, and the auto-detection in open_collection."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from genrenet.data import open_collection
from genrenet.data.folders import load_folders
from genrenet.data.manifest import load_manifest
from tests.conftest import SR, tone


def test_genre_folders(genre_tree: Path) -> None:
    (genre_tree / "empty_genre").mkdir()
    collection = load_folders(genre_tree)
    assert collection.labels == ["blues", "jazz", "rock"]
    assert collection.counts() == {"blues": 4, "jazz": 4, "rock": 5}
    names = {t.path.name for t in collection.tracks}
    assert "deep.flac" in names and ".hidden.wav" not in names and "cover.txt" not in names
    assert any("empty_genre" in w for w in collection.warnings)
    assert not collection.has_groups and not collection.has_splits


def test_loose_file_at_the_root_is_skipped(genre_tree: Path) -> None:
    sf.write(genre_tree / "loose.wav", tone(), SR)
    collection = load_folders(genre_tree)
    assert [s.path.name for s in collection.skipped] == ["loose.wav"]


def test_manifest_relative_paths_groups_splits(genre_tree: Path) -> None:
    csv = genre_tree / "list.csv"
    csv.write_text(
        "path,label,group,split\n"
        "blues/blues0.wav,blues,artistA,train\n"
        "jazz/jazz0.wav,jazz,artistB,validation\n"
        "rock/rock0.wav,rock,artistC,test\n"
        "rock/missing.wav,rock,artistC,train\n"
    )
    collection = load_manifest(csv)
    assert [t.split for t in collection.tracks] == ["train", "valid", "test"]
    assert collection.has_groups and collection.has_splits
    assert collection.tracks[0].path == genre_tree / "blues" / "blues0.wav"
    assert "missing.wav" in str(collection.skipped[0].path)
    assert open_collection(csv).kind == "manifest"


@pytest.mark.parametrize(
    "text,match",
    [
        ("file,genre\nx.wav,rock\n", "missing"),
        ("path,label,split\nx.wav,rock,dev\n", "unknown split"),
        ("path,label\n,rock\n", "line 2"),
    ],
)
def test_bad_manifest_names_file_and_problem(tmp_path: Path, text: str, match: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_manifest(csv)
    assert "bad.csv" in str(info.value)


def test_open_collection_detects_kind(genre_tree: Path, tmp_path: Path) -> None:
    assert open_collection(genre_tree).kind == "folders"
    with pytest.raises(FileNotFoundError):
        open_collection(tmp_path / "nowhere")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="manifest"):
        open_collection(tmp_path / "x.txt")
