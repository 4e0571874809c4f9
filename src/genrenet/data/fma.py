"""Free Music Archive (FMA) data source: ``fma_metadata/tracks.csv`` + an ``fma_<subset>`` folder.

Reads the three-row pandas header of ``tracks.csv`` with the csv module (no pandas), keeps only
the columns needed, and pairs each track of the chosen subset with its audio file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genrenet.data.tracks import Collection, Skipped, Track, is_audio_path

SUBSETS: tuple[str, ...] = ("small", "medium", "large", "full")
"""Audio subsets from smallest to largest; each contains every smaller one."""

KNOWN_EMPTY_IDS: frozenset[int] = frozenset({99134, 108925, 133297})
"""Clips in fma_small/fma_medium that hold no audio at all (mdeff/fma issues #41, #44)."""

SPLITS: dict[str, str] = {"training": "train", "validation": "valid", "test": "test"}
"""FMA's ``set.split`` values mapped to genrenet split names."""

METADATA_DIR = "fma_metadata"
TRACKS_CSV = "tracks.csv"

_SUBSET_KEY = ("set", "subset")
_SPLIT_KEY = ("set", "split")
_GENRE_KEY = ("track", "genre_top")
_ARTIST_KEY = ("artist", "id")
_DURATION_KEY = ("track", "duration")
_REQUIRED = (_SUBSET_KEY, _SPLIT_KEY, _GENRE_KEY, _ARTIST_KEY)
_EXAMPLES = 5


@dataclass(frozen=True)
class FmaRecord:
    """The fields of one ``tracks.csv`` row that genrenet uses."""

    track_id: int
    subset: str
    split: str
    genre_top: str
    artist_id: str
    duration: str


@dataclass(frozen=True)
class _Layout:
    """Where the metadata and the audio folder of an FMA tree are."""

    tracks_csv: Path
    audio_dir: Path
    folder_subset: str


def fma_source_id(track_id: int) -> str:
    """Stable id for an FMA track, e.g. ``fma:000002``."""
    return f"fma:{track_id:06d}"


def fma_audio_path(audio_dir: Path, track_id: int) -> Path:
    """Where FMA stores a track: ``<audio_dir>/000/000002.mp3`` (first three digits of the id)."""
    tid = f"{track_id:06d}"
    return audio_dir / tid[:3] / f"{tid}.mp3"


def _folder_subset(path: Path) -> str | None:
    """The subset an ``fma_<subset>`` folder name stands for, else None."""
    name = path.name.lower()
    if name.startswith("fma_") and name[4:] in SUBSETS:
        return name[4:]
    return None


def _audio_folders(root: Path) -> dict[str, Path]:
    """The ``fma_<subset>`` folders directly under ``root``, keyed by subset."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for child in root.iterdir():
        subset = _folder_subset(child)
        if subset is not None and child.is_dir():
            found.setdefault(subset, child)
    return found


def is_fma(root: Path) -> bool:
    """True for an FMA tree: ``fma_metadata/tracks.csv`` beside an ``fma_<subset>`` audio folder.

    ``root`` may be the folder holding both, or an ``fma_<subset>`` folder itself.
    """
    root = Path(root)
    if (root / METADATA_DIR / TRACKS_CSV).is_file() and _audio_folders(root):
        return True
    return (
        root.is_dir()
        and _folder_subset(root) is not None
        and (root.parent / METADATA_DIR / TRACKS_CSV).is_file()
    )


def _resolve_layout(root: Path, subset: str | None) -> _Layout:
    """Find tracks.csv and the audio folder that holds ``subset`` (smallest folder that does)."""
    if subset is not None and subset not in SUBSETS:
        raise ValueError(f"unknown FMA subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    own = _folder_subset(root)
    if own is not None and root.is_dir() and not (root / METADATA_DIR).is_dir():
        tracks_csv = root.parent / METADATA_DIR / TRACKS_CSV
        folders = {own: root}
    else:
        tracks_csv = root / METADATA_DIR / TRACKS_CSV
        folders = _audio_folders(root)
    if not tracks_csv.is_file():
        raise ValueError(f"{root}: not an FMA tree, {tracks_csv} is missing")
    if not folders:
        raise ValueError(
            f"{root}: no FMA audio folder found (expected one of "
            f"{', '.join('fma_' + s for s in SUBSETS)})"
        )
    wanted = subset or min(folders, key=SUBSETS.index)
    usable = [s for s in SUBSETS[SUBSETS.index(wanted) :] if s in folders]
    if not usable:
        have = ", ".join(folders[s].name for s in sorted(folders, key=SUBSETS.index))
        raise ValueError(f"{root}: no audio folder holds FMA subset {wanted!r} (found {have})")
    return _Layout(tracks_csv, folders[usable[0]], wanted)


@contextmanager
def _large_csv_fields() -> Iterator[None]:
    """Allow the long free-text fields (artist bios) of tracks.csv, restoring the limit after."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, 1 << 27))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _header_keys(path: Path, top: list[str], sub: list[str]) -> dict[tuple[str, str], int]:
    """Combine the first two header rows into ``(top, sub)`` keys mapped to column indices."""
    if len(top) != len(sub):
        raise ValueError(
            f"{path}: malformed tracks.csv header, the first two rows have "
            f"{len(top)} and {len(sub)} columns"
        )
    keys: dict[tuple[str, str], int] = {}
    current = ""
    for i, (a, b) in enumerate(zip(top, sub, strict=True)):
        if i == 0:
            continue  # the index column (track_id)
        current = a.strip() or current  # tolerate spreadsheet-style blank repeats
        keys.setdefault((current, b.strip()), i)
    missing = [f"{a}.{b}" for a, b in _REQUIRED if (a, b) not in keys]
    if missing:
        raise ValueError(
            f"{path}: malformed tracks.csv header, missing column(s) {', '.join(missing)} "
            "(expected the FMA two-level header: album/artist/set/track over id/subset/...)"
        )
    return keys


def read_tracks_csv(path: Path) -> tuple[list[FmaRecord], int]:
    """Stream FMA's ``tracks.csv`` keeping only the needed columns.

    Returns the records and the number of data rows that could not be read (bad id or too short).
    """
    path = Path(path)
    records: list[FmaRecord] = []
    bad = 0
    try:
        with _large_csv_fields(), path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            head = [next(reader, None) for _ in range(3)]
            if head[0] is None or head[1] is None:
                raise ValueError(f"{path}: malformed tracks.csv, fewer than two header rows")
            keys = _header_keys(path, head[0], head[1])
            cols = [keys[k] for k in _REQUIRED] + [keys.get(_DURATION_KEY, -1)]
            width = max(cols) + 1
            pending = [head[2]] if head[2] is not None else []
            if pending and pending[0] and pending[0][0].strip() == "track_id":
                pending = []  # pandas' index-name row
            for rows in (pending, reader):
                for row in rows:
                    if not row:
                        continue
                    try:
                        tid = int(row[0])
                    except ValueError:
                        bad += 1
                        continue
                    if len(row) < width:
                        bad += 1
                        continue
                    subset, split, genre, artist = (row[c].strip() for c in cols[:4])
                    duration = row[cols[4]].strip() if cols[4] >= 0 else ""
                    records.append(FmaRecord(tid, subset, split, genre, artist, duration))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: tracks.csv is not valid UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise ValueError(f"{path}: tracks.csv could not be parsed as CSV ({exc})") from exc
    return records, bad


def _scan_audio(audio_dir: Path) -> tuple[dict[int, Path], list[Skipped]]:
    """Map track id to audio file under ``audio_dir``; files not named ``<id>.mp3`` are skipped."""
    found: dict[int, Path] = {}
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(audio_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not is_audio_path(path):
                continue
            stem = path.stem
            if not stem.isdigit():
                skipped.append(Skipped(path, "file name is not an FMA track id (e.g. 000002.mp3)"))
                continue
            tid = int(stem)
            if tid in found:
                skipped.append(Skipped(path, f"duplicate of {found[tid]} (same FMA track id)"))
                continue
            found[tid] = path
    return found, skipped


def _examples(ids: list[int]) -> str:
    """A few track ids for a warning line."""
    shown = ", ".join(f"{t:06d}" for t in ids[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def _duration(text: str, folder_subset: str) -> float | None:
    """Track duration in seconds: only meaningful for untrimmed ``fma_full`` audio."""
    if folder_subset != "full" or not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def load_fma(root: Path, subset: str | None = None) -> Collection:
    """Load one FMA subset as a :class:`Collection` labelled with ``track.genre_top``.

    ``subset`` is small/medium/large/full; by default the smallest audio folder present.
    Groups are artist ids and splits come from FMA's own ``set.split``.
    """
    root = Path(root)
    layout = _resolve_layout(root, subset)
    wanted = layout.folder_subset
    rank = SUBSETS.index(wanted)
    records, bad_rows = read_tracks_csv(layout.tracks_csv)
    audio, skipped = _scan_audio(layout.audio_dir)
    warnings: list[str] = []
    if bad_rows:
        warnings.append(f"{layout.tracks_csv}: {bad_rows} unreadable row(s) ignored")

    tracks: list[Track] = []
    known: set[int] = set()
    no_genre: list[int] = []
    missing: list[int] = []
    bad_split: list[int] = []
    outside = 0
    for rec in sorted(records, key=lambda r: r.track_id):
        known.add(rec.track_id)
        in_subset = wanted == "full" or (
            rec.subset in SUBSETS and SUBSETS.index(rec.subset) <= rank
        )
        if not in_subset:
            outside += rec.track_id in audio
            continue
        path = audio.get(rec.track_id)
        if not rec.genre_top:
            no_genre.append(rec.track_id)
            continue
        if rec.track_id in KNOWN_EMPTY_IDS:
            where = path or fma_audio_path(layout.audio_dir, rec.track_id)
            skipped.append(Skipped(where, "known empty FMA clip (no audio, mdeff/fma issue #41)"))
            continue
        if path is None:
            missing.append(rec.track_id)
            continue
        split = SPLITS.get(rec.split)
        if split is None:
            bad_split.append(rec.track_id)
        tracks.append(
            Track(
                path=path,
                label=rec.genre_top,
                group=rec.artist_id or None,
                duration=_duration(rec.duration, layout.folder_subset),
                source_id=fma_source_id(rec.track_id),
                split=split,
            )
        )

    for tid, path in audio.items():
        if tid not in known:
            skipped.append(Skipped(path, f"track {tid:06d} is not listed in {layout.tracks_csv}"))

    empty = [s for s in skipped if s.reason.startswith("known empty")]
    if empty:
        warnings.append(
            f"skipped {len(empty)} known empty FMA clip(s): "
            + ", ".join(s.path.stem for s in empty)
        )
    if no_genre:
        warnings.append(
            f"{len(no_genre)} track(s) of subset {wanted!r} have no top-level genre "
            f"(track.genre_top) and were left out, e.g. {_examples(no_genre)}"
        )
    if missing:
        warnings.append(
            f"{len(missing)} track(s) of subset {wanted!r} listed in tracks.csv have no audio "
            f"file in {layout.audio_dir}, e.g. {_examples(missing)}"
        )
    if bad_split:
        warnings.append(
            f"{len(bad_split)} track(s) have no usable set.split (expected training/validation/"
            f"test) and carry no split, e.g. {_examples(bad_split)}"
        )
    if outside:
        warnings.append(
            f"{outside} audio file(s) in {layout.audio_dir.name} belong to a larger subset "
            f"than {wanted!r} and were left out"
        )
    return Collection(
        name=f"fma_{wanted}", tracks=tracks, skipped=skipped, warnings=warnings, kind="fma"
    )
