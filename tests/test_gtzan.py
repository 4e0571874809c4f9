"""GTZAN source: layout detection, labels, filtered split, skipped clips, shipped split counts."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrenet.data.gtzan import (
    GTZAN_GENRES,
    filtered_coverage,
    filtered_split,
    is_gtzan,
    load_gtzan,
)
from genrenet.data.tracks import Collection, Track

MINI_GTZAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-mini"

# Published per-genre counts (train, valid, test) of the artist-filtered split.
EXPECTED_PER_GENRE = {
    "blues": (46, 23, 31),
    "classical": (48, 20, 31),
    "country": (45, 23, 30),
    "disco": (42, 22, 29),
    "hiphop": (47, 18, 27),
    "jazz": (43, 17, 27),
    "metal": (44, 20, 27),
    "pop": (41, 13, 30),
    "reggae": (43, 17, 26),
    "rock": (44, 24, 32),
}


def _write_clip(path: Path, seed: int = 0) -> None:
    """Write a tiny real audio file (300 samples of noise) in the format the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).uniform(-0.5, 0.5, 300).astype(np.float32)
    sf.write(path, noise, 22050)


def _make_tree(genre_root: Path, ids: list[str], ext: str = "wav") -> None:
    """Lay out GTZAN clips as ``genre_root/<genre>/<id>.<ext>``."""
    for i, clip in enumerate(ids):
        _write_clip(genre_root / clip.split(".")[0] / f"{clip}.{ext}", seed=i)


def _unlisted(genre: str) -> str:
    """The first clip id of ``genre`` that the filtered split leaves out."""
    listed = {c for ids in filtered_split().values() for c in ids}
    return next(f"{genre}.{n:05d}" for n in range(100) if f"{genre}.{n:05d}" not in listed)


# Clips with known split membership (read off the published lists).
KNOWN = {"blues.00029": "train", "blues.00000": "valid", "blues.00012": "test",
         "rock.00038": "valid", "metal.00099": "train", "pop.00096": "test"}  # fmt: skip


def test_shipped_split_counts_match_publication() -> None:
    raw = json.loads(
        (resources.files("genrenet.data") / "resources" / "gtzan_filtered_split.json").read_text(
            encoding="utf-8"
        )
    )
    assert "Kereliuk" in raw["source"]
    split = filtered_split()
    assert {k: raw[k] for k in ("train", "valid", "test")} == split
    assert [len(split[k]) for k in ("train", "valid", "test")] == [443, 197, 290]
    for genre, expected in EXPECTED_PER_GENRE.items():
        got = tuple(sum(c.split(".")[0] == genre for c in split[k]) for k in split)
        assert got == expected, genre
    for ids in split.values():
        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[a-z]+\.\d{5}", c) and c.split(".")[0] in GTZAN_GENRES
                   for c in ids)  # fmt: skip
    train, valid, test = (set(split[k]) for k in ("train", "valid", "test"))
    assert not train & valid and not train & test and not valid & test
    for clip, name in KNOWN.items():
        assert clip in split[name]


def test_filtered_split_returns_copies() -> None:
    filtered_split()["train"].clear()
    assert len(filtered_split()["train"]) == 443


@pytest.mark.parametrize(
    ("layout", "ext"),
    [(("genres",), "au"), (("genres_original",), "wav"), (("Data", "genres_original"), "wav"),
     ((), "flac")],
)  # fmt: skip
def test_detects_layouts_and_assigns_labels_and_splits(
    tmp_path: Path, layout: tuple[str, ...], ext: str
) -> None:
    excluded = _unlisted("pop")
    ids = [*KNOWN, excluded, "jazz.00073", "classical.00042"]
    _make_tree(tmp_path.joinpath(*layout), ids, ext)
    assert is_gtzan(tmp_path)
    coll = load_gtzan(tmp_path)
    assert coll.kind == "gtzan"
    assert not coll.skipped
    by_id = {t.source_id: t for t in coll.tracks}
    assert sorted(by_id) == sorted(ids)
    split_of = {c: name for name, cs in filtered_split().items() for c in cs}
    for clip, track in by_id.items():
        assert track.label == clip.split(".")[0]
        assert track.group is None
        assert track.path.is_file() and track.path.suffix == f".{ext}"
        assert track.split == split_of.get(clip)
    for clip, name in KNOWN.items():
        assert by_id[clip].split == name
    assert by_id[excluded].split is None
    assert by_id["classical.00042"].split is None
    assert coll.has_splits and not coll.has_groups
    assert coll.counts()["blues"] == 3


def test_genres_folder_itself_is_detected(tmp_path: Path) -> None:
    _make_tree(tmp_path / "genres", ["rock.00001", "disco.00002"], "au")
    assert is_gtzan(tmp_path / "genres")
    assert {t.source_id for t in load_gtzan(tmp_path / "genres").tracks} == {
        "rock.00001",
        "disco.00002",
    }


def test_jazz_00054_is_skipped_with_warning(tmp_path: Path) -> None:
    _make_tree(tmp_path / "genres", ["jazz.00053", "jazz.00054", "jazz.00055"], "wav")
    coll = load_gtzan(tmp_path)
    assert [t.source_id for t in coll.tracks] == ["jazz.00053", "jazz.00055"]
    assert len(coll.skipped) == 1
    assert coll.skipped[0].path.name == "jazz.00054.wav"
    assert "truncated" in coll.skipped[0].reason
    assert any("jazz.00054" in w and "truncated" in w for w in coll.warnings)


def test_non_audio_hidden_and_misnamed_files(tmp_path: Path) -> None:
    root = tmp_path / "genres"
    clean = ["blues.00001", "blues.00002", "blues.00010", "rock.00003", "rock.00004", "rock.00011"]
    _make_tree(root, clean, "au")
    (root / "input.mf").write_text("blues/blues.00001.au\tblues\n")
    (root / "blues" / "notes.txt").write_text("not audio")
    (root / "blues" / ".DS_Store").write_bytes(b"\0\0")
    _write_clip(root / "blues" / "._blues.00001.au")  # macOS resource fork
    _write_clip(root / ".cache" / "blues" / "blues.00009.wav")
    _write_clip(root / "blues" / "my song.wav")
    _write_clip(root / "blues" / "rock.00005.wav")
    _write_clip(root / "podcasts" / "episode.00001.wav")
    _write_clip(root / "loose.wav")
    _write_clip(root / "blues" / "extra" / "blues.00007.wav")
    _write_clip(root / "blues" / "blues.00001.wav")  # same clip in a second format
    assert is_gtzan(tmp_path)  # 7 of the 12 visible audio files are named like GTZAN clips
    coll = load_gtzan(tmp_path)
    assert sorted(t.source_id for t in coll.tracks) == sorted(clean)
    assert coll.tracks[0].path.suffix == ".au"
    reasons = {s.path.relative_to(root).as_posix(): s.reason for s in coll.skipped}
    assert set(reasons) == {
        "blues/my song.wav", "blues/rock.00005.wav", "podcasts/episode.00001.wav", "loose.wav",
        "blues/extra/blues.00007.wav", "blues/blues.00001.wav",
    }  # fmt: skip
    assert "not a GTZAN clip name" in reasons["blues/my song.wav"]
    assert (
        "'rock'" in reasons["blues/rock.00005.wav"] and "'blues'" in reasons["blues/rock.00005.wav"]
    )
    assert "not one of the 10 GTZAN genres" in reasons["podcasts/episode.00001.wav"]
    assert "not inside a genre folder" in reasons["loose.wav"]
    assert "nested" in reasons["blues/extra/blues.00007.wav"]
    assert "second file for clip blues.00001" in reasons["blues/blues.00001.wav"]
    assert any("no clips for GTZAN genre(s)" in w and "classical" in w for w in coll.warnings)


def test_not_gtzan(tmp_path: Path) -> None:
    assert not is_gtzan(tmp_path / "missing")
    assert not is_gtzan(tmp_path)
    # A person's genre folders: right folder names, but free-form file names.
    for i, name in enumerate(["Song One.wav", "b-side.wav", "live.wav"]):
        _write_clip(tmp_path / "mine" / "blues" / name, seed=i)
    _write_clip(tmp_path / "mine" / "blues" / "blues.00001.wav")
    assert not is_gtzan(tmp_path / "mine")
    # GTZAN-like names but no genre folders.
    _write_clip(tmp_path / "flat" / "blues.00001.wav")
    assert not is_gtzan(tmp_path / "flat")
    # Majority rule flips once GTZAN names dominate.
    for n in range(2, 6):
        _write_clip(tmp_path / "mine" / "blues" / f"blues.{n:05d}.wav")
    assert is_gtzan(tmp_path / "mine")


def test_load_gtzan_rejects_bad_roots(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        load_gtzan(tmp_path / "missing")
    _write_clip(tmp_path / "music" / "ambient" / "a.wav")
    with pytest.raises(ValueError, match=r"music: not a GTZAN folder"):
        load_gtzan(tmp_path / "music")


def test_filtered_coverage(tmp_path: Path) -> None:
    split = filtered_split()
    every = [c for ids in split.values() for c in ids]
    assert len(every) == 930
    full = Collection("all", [Track(Path(f"{c}.wav"), c.split(".")[0], source_id=c) for c in every])
    assert filtered_coverage(full) == 1.0
    assert filtered_coverage(Collection("none", [])) == 0.0
    ids = [split["train"][0], split["valid"][0], split["test"][0], _unlisted("reggae")]
    _make_tree(tmp_path, ids)
    assert filtered_coverage(load_gtzan(tmp_path)) == pytest.approx(3 / 930)


@pytest.mark.realdata
@pytest.mark.skipif(not MINI_GTZAN.is_dir(), reason=f"{MINI_GTZAN} not present")
def test_mini_gtzan() -> None:
    assert is_gtzan(MINI_GTZAN)
    coll = load_gtzan(MINI_GTZAN)
    assert len(coll) == 100
    assert coll.counts() == {g: 10 for g in GTZAN_GENRES}
    assert not coll.skipped
    split_of = {c: name for name, cs in filtered_split().items() for c in cs}
    assert all(t.split == split_of.get(t.source_id) for t in coll.tracks)
    breakdown = Counter(t.split for t in coll.tracks)
    print("gtzan-mini split breakdown:", {str(k): v for k, v in breakdown.items()})
    assert sum(breakdown.values()) == 100
    assert breakdown["train"] > 0 and breakdown["valid"] > 0 and breakdown["test"] > 0
    assert filtered_coverage(coll) == pytest.approx(
        sum(breakdown[k] for k in ("train", "valid", "test")) / 930
    )
