"""Tests for the FMA data source on a small FMA-shaped tree built in tmp_path."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrenet.data.fma import fma_audio_path, is_fma, load_fma, read_tracks_csv

# The real column layout of fma_metadata/tracks.csv (pandas two-level header).
# fmt: off
_ALBUM = ["comments", "date_created", "date_released", "engineer", "favorites", "id",
          "information", "listens", "producer", "tags", "title", "tracks", "type"]
_ARTIST = ["active_year_begin", "active_year_end", "associated_labels", "bio", "comments",
           "date_created", "favorites", "id", "latitude", "location", "longitude", "members",
           "name", "related_projects", "tags", "website", "wikipedia_page"]
_SET = ["split", "subset"]
_TRACK = ["bit_rate", "comments", "composer", "date_created", "date_recorded", "duration",
          "favorites", "genre_top", "genres", "genres_all", "information", "interest",
          "language_code", "license", "listens", "lyricist", "number", "publisher", "tags", "title"]
# fmt: on
COLUMNS: list[tuple[str, str]] = [
    (top, sub)
    for top, subs in (("album", _ALBUM), ("artist", _ARTIST), ("set", _SET), ("track", _TRACK))
    for sub in subs
]

# (track_id, artist_id, subset, split, genre_top)
ROWS: list[tuple[int, int, str, str, str]] = [
    (2, 1, "small", "training", "Hip-Hop"),
    (3, 1, "medium", "training", "Hip-Hop"),
    (5, 1, "small", "training", "Hip-Hop"),
    (10, 6, "small", "training", "Pop"),
    (20, 4, "large", "training", "Folk"),
    (134, 1, "medium", "validation", "Hip-Hop"),
    (140, 54, "small", "training", "Folk"),
    (141, 54, "small", "validation", "Folk"),
    (148, 66, "small", "test", "Experimental"),
    (182, 70, "medium", "test", "Rock"),
    (190, 75, "small", "training", "Folk"),
    (193, 75, "small", "test", "Folk"),
    (194, 75, "medium", "validation", "Folk"),
    (197, 79, "small", "training", "Pop"),
    (200, 79, "small", "validation", "Pop"),
    (256, 90, "small", "training", "Rock"),
    (1001, 120, "medium", "training", ""),  # no top-level genre
    (1002, 121, "small", "test", "Rock"),  # listed, but its mp3 is missing
    (99134, 130, "small", "training", "Experimental"),  # known empty clip
    (108925, 131, "medium", "training", "Rock"),  # known empty clip
    (150000, 140, "medium", "test", "Pop"),
]
NO_AUDIO = {1002}


def _row(tid: int, artist: int, subset: str, split: str, genre: str) -> list[str]:
    """One realistic data row in COLUMNS order, with commas and newlines in free text."""
    values = {
        ("album", "id"): str(tid // 10),
        ("album", "title"): f"Album {tid}, vol. 1",
        ("album", "type"): "Album",
        ("artist", "id"): str(artist),
        ("artist", "name"): f"Artist {artist}",
        ("artist", "bio"): f'<p>Line one of the bio,\nline two "quoted" of {artist}</p>',
        ("artist", "tags"): "['awol', 'x']",
        ("set", "split"): split,
        ("set", "subset"): subset,
        ("track", "bit_rate"): "256000",
        ("track", "duration"): str(160 + tid % 40),
        ("track", "genre_top"): genre,
        ("track", "genres"): "[21]",
        ("track", "genres_all"): "[21]",
        ("track", "license"): "Attribution-NonCommercial-ShareAlike 3.0 International",
        ("track", "title"): f"Song {tid}",
    }
    return [str(tid)] + [values.get(col, "") for col in COLUMNS]


def _write_tracks_csv(path: Path, rows: list[list[str]], columns=COLUMNS) -> None:
    """Write tracks.csv with FMA's three header rows (top level, sub-column, index name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([""] + [a for a, _ in columns])
        w.writerow([""] + [b for _, b in columns])
        w.writerow(["track_id"] + [""] * len(columns))
        w.writerows(rows)


@pytest.fixture(scope="module")
def mp3_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A genuine tiny MP3 (0.2 s of noise); WAV bytes if this libsndfile cannot write MP3."""
    path = tmp_path_factory.mktemp("mp3") / "clip.mp3"
    data = np.random.default_rng(0).normal(0, 0.1, 4410).astype("float32")
    try:
        sf.write(path, data, 22050, format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError):
        sf.write(path, data, 22050, format="WAV")
    return path.read_bytes()


def _build(root: Path, mp3: bytes, folders=("small", "medium")) -> Path:
    """An FMA tree: fma_metadata/tracks.csv plus fma_<subset> folders holding their tracks."""
    _write_tracks_csv(root / "fma_metadata" / "tracks.csv", [_row(*r) for r in ROWS])
    rank = {"small": 0, "medium": 1, "large": 2}
    for folder in folders:
        audio = root / f"fma_{folder}"
        audio.mkdir(parents=True)
        (audio / "README.txt").write_text("part of the FMA\n")
        (audio / "checksums").write_text("")
        for tid, _, subset, _, _ in ROWS:
            if tid in NO_AUDIO or rank[subset] > rank[folder]:
                continue
            path = fma_audio_path(audio, tid)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"" if tid == 99134 else mp3)
    return root


def _expected(subset: str) -> dict[int, tuple[str, str, str]]:
    """Usable tracks of a subset from ROWS: id -> (label, group, split)."""
    rank = {"small": 0, "medium": 1, "large": 2}
    split_map = {"training": "train", "validation": "valid", "test": "test"}
    return {
        tid: (genre, str(artist), split_map[split])
        for tid, artist, s, split, genre in ROWS
        if rank[s] <= rank[subset] and genre and tid not in NO_AUDIO | {99134, 108925}
    }


def _by_id(coll) -> dict[int, tuple[str, str | None, str | None]]:
    return {int(t.source_id.split(":")[1]): (t.label, t.group, t.split) for t in coll.tracks}


def test_fma_audio_path_layout(tmp_path: Path) -> None:
    assert fma_audio_path(tmp_path, 2) == tmp_path / "000" / "000002.mp3"
    assert fma_audio_path(tmp_path, 150000) == tmp_path / "150" / "150000.mp3"


def test_is_fma(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    assert is_fma(root)
    assert is_fma(root / "fma_small")
    assert not is_fma(root / "fma_metadata")
    assert not is_fma(tmp_path)
    lonely = tmp_path / "meta_only"
    _write_tracks_csv(lonely / "fma_metadata" / "tracks.csv", [])
    assert not is_fma(lonely)


def test_read_tracks_csv_keeps_needed_columns(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    _write_tracks_csv(path, [_row(*r) for r in ROWS] + [["not-an-id"] + [""] * len(COLUMNS)])
    records, bad = read_tracks_csv(path)
    assert bad == 1
    assert [r.track_id for r in records] == [r[0] for r in ROWS]
    first = records[0]
    assert (first.subset, first.split, first.genre_top, first.artist_id) == (
        "small",
        "training",
        "Hip-Hop",
        "1",
    )
    assert first.duration == str(160 + 2 % 40)


def test_load_small_default(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes)
    coll = load_fma(root)  # smallest folder present: fma_small
    assert coll.kind == "fma"
    assert coll.name == "fma_small"
    assert _by_id(coll) == _expected("small")
    assert coll.labels == sorted({"Hip-Hop", "Pop", "Folk", "Experimental", "Rock"})
    assert coll.counts() == dict(sorted(Counter(v[0] for v in _expected("small").values()).items()))
    assert coll.has_groups and coll.has_splits
    for t in coll.tracks:
        assert t.path.is_file()
        assert t.path.parent.parent == root / "fma_small"
        assert t.source_id == f"fma:{t.path.stem}"
        assert t.duration is None  # 30 s clips: the metadata duration is the full track's

    # the known empty clip is a Skipped entry and a warning; the missing mp3 only a warning
    assert [s.path.name for s in coll.skipped] == ["099134.mp3"]
    assert "known empty" in coll.skipped[0].reason
    text = "\n".join(coll.warnings)
    assert "099134" in text
    assert "1 track(s) of subset 'small' listed in tracks.csv have no audio" in text
    assert "001002" in text


def test_load_medium_includes_small(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes)
    coll = load_fma(root, subset="medium")
    assert coll.name == "fma_medium"
    got = _by_id(coll)
    assert got == _expected("medium")
    assert set(_expected("small")) < set(got)
    assert all(t.path.parent.parent == root / "fma_medium" for t in coll.tracks)
    assert sorted(s.path.name for s in coll.skipped) == ["099134.mp3", "108925.mp3"]
    text = "\n".join(coll.warnings)
    assert "1 track(s) of subset 'medium' have no top-level genre" in text
    assert "001001" in text
    assert 20 not in got  # a 'large' track listed in the CSV is not part of medium


def test_small_from_medium_folder(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("medium",))
    coll = load_fma(root, subset="small")
    assert _by_id(coll) == _expected("small")
    n_medium_only = sum(1 for tid, _, s, _, _ in ROWS if s == "medium" and tid not in NO_AUDIO)
    assert any(f"{n_medium_only} audio file(s) in fma_medium" in w for w in coll.warnings)


def test_root_can_be_the_audio_folder(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes)
    coll = load_fma(root / "fma_medium")
    assert coll.name == "fma_medium"
    assert _by_id(coll) == _expected("medium")
    with pytest.raises(ValueError, match="no audio folder holds FMA subset 'medium'"):
        load_fma(root / "fma_small", subset="medium")


def test_unlisted_and_misnamed_files_are_skipped(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    extra = fma_audio_path(root / "fma_small", 777)
    extra.parent.mkdir(exist_ok=True)
    extra.write_bytes(mp3_bytes)
    odd = root / "fma_small" / "000" / "cover.mp3"
    odd.write_bytes(mp3_bytes)
    coll = load_fma(root)
    reasons = {s.path.name: s.reason for s in coll.skipped}
    assert "not listed in" in reasons["000777.mp3"]
    assert "not an FMA track id" in reasons["cover.mp3"]
    assert 777 not in _by_id(coll)


def test_unknown_split_is_reported(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    rows = [_row(*r) for r in ROWS]
    split_col = 1 + COLUMNS.index(("set", "split"))
    rows[0][split_col] = "holdout"
    _write_tracks_csv(root / "fma_metadata" / "tracks.csv", rows)
    coll = load_fma(root)
    track2 = next(t for t in coll.tracks if t.source_id == "fma:000002")
    assert track2.split is None
    assert any("no usable set.split" in w and "000002" in w for w in coll.warnings)


def test_missing_column_is_a_clear_error(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    cols = [c for c in COLUMNS if c != ("track", "genre_top")]
    path = root / "fma_metadata" / "tracks.csv"
    _write_tracks_csv(path, [], columns=cols)
    with pytest.raises(ValueError, match=r"tracks\.csv.*missing column\(s\) track\.genre_top"):
        load_fma(root)


def test_flat_header_is_rejected(tmp_path: Path, mp3_bytes: bytes) -> None:
    """A one-row header (e.g. a re-saved, flattened tracks.csv) names all missing columns."""
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    path = root / "fma_metadata" / "tracks.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", "genre_top", "subset", "split", "artist_id"])
        w.writerow(["2", "Hip-Hop", "small", "training", "1"])
    with pytest.raises(ValueError, match="set.subset, set.split, track.genre_top, artist.id"):
        load_fma(root)


def test_empty_or_absent_metadata(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    path = root / "fma_metadata" / "tracks.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="fewer than two header rows"):
        load_fma(root)
    path.unlink()
    with pytest.raises(ValueError, match="tracks.csv is missing"):
        load_fma(root)


def test_unknown_subset(tmp_path: Path, mp3_bytes: bytes) -> None:
    root = _build(tmp_path / "fma", mp3_bytes, folders=("small",))
    with pytest.raises(ValueError, match="unknown FMA subset 'tiny'"):
        load_fma(root, subset="tiny")
    with pytest.raises(ValueError, match="no audio folder holds FMA subset 'large'"):
        load_fma(root, subset="large")
