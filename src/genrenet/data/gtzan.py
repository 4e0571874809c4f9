"""GTZAN (Tzanetakis & Cook 2002): detect its layouts, load its clips, attach the filtered split."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

from genrenet.data.tracks import Collection, Skipped, Track, is_audio_path

GTZAN_GENRES = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip
"""The ten GTZAN genres, which are also its folder names and file-name prefixes."""

SPLIT_NAMES = ("train", "valid", "test")
"""Split names used by the shipped filtered split (and by ``Track.split``)."""

TRUNCATED = {
    "jazz.00054": "truncated in the widely circulated copy of GTZAN (many decoders fail on it), "
    "so it is left out",
}
"""Clips skipped on purpose, with the reason reported in ``Collection.skipped``."""

_LAYOUTS = (("genres",), ("genres_original",), ("Data", "genres_original"), ())
"""Where the genre folders may sit relative to the given root, tried in this order."""

_CLIP_NAME = re.compile(r"(?P<genre>[a-z]+)\.(?P<number>\d{5})")
_RESOURCE = "gtzan_filtered_split.json"


@lru_cache(maxsize=1)
def _load_split() -> dict[str, tuple[str, ...]]:
    """Read and validate the shipped split resource once per process."""
    ref = resources.files("genrenet.data") / "resources" / _RESOURCE
    try:
        data = json.loads(ref.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RuntimeError(f"GTZAN split resource {_RESOURCE} is unreadable: {err}") from err
    split: dict[str, tuple[str, ...]] = {}
    for name in SPLIT_NAMES:
        ids = data.get(name) if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise RuntimeError(f"GTZAN split resource {_RESOURCE}: '{name}' is not a list of ids")
        split[name] = tuple(ids)
    return split


def filtered_split() -> dict[str, list[str]]:
    """The artist-filtered GTZAN split (Kereliuk, Sturm & Larsen 2015): ids per train/valid/test.

    Ids look like ``"blues.00012"``; 443/197/290 clips; the other 70 clips are left out on purpose.
    """
    return {name: list(ids) for name, ids in _load_split().items()}


@lru_cache(maxsize=1)
def _split_of() -> dict[str, str]:
    """Map each clip id of the filtered split to its split name."""
    return {clip: name for name, ids in _load_split().items() for clip in ids}


def _visible(path: Path, base: Path) -> bool:
    """False when the path or any folder between ``base`` and it is hidden."""
    return not any(part.startswith(".") for part in path.relative_to(base).parts)


def _genre_root(root: Path) -> Path | None:
    """The folder holding the ``<genre>/`` folders for the known layouts, or None."""
    if not root.is_dir():
        return None
    for parts in _LAYOUTS:
        candidate = root.joinpath(*parts)
        if candidate.is_dir() and any((candidate / g).is_dir() for g in GTZAN_GENRES):
            return candidate
    return None


def _audio_files(genre_root: Path) -> Iterator[Path]:
    """Every visible audio file below ``genre_root``, in sorted order."""
    for path in sorted(genre_root.rglob("*")):
        if path.is_file() and is_audio_path(path) and _visible(path, genre_root):
            yield path


def _clip_id(path: Path, genre_root: Path) -> tuple[str | None, str]:
    """``(clip id, "")`` for a file named like GTZAN in its genre folder, else ``(None, why)``."""
    rel = path.relative_to(genre_root)
    if len(rel.parts) == 1:
        return (
            None,
            f"not inside a genre folder (expected {genre_root}/<genre>/<genre>.NNNNN.<ext>)",
        )
    folder = rel.parts[0]
    if folder not in GTZAN_GENRES:
        return (
            None,
            f"folder '{folder}' is not one of the 10 GTZAN genres ({', '.join(GTZAN_GENRES)})",
        )
    if len(rel.parts) > 2:
        return None, f"nested below the genre folder '{folder}' (GTZAN clips sit directly in it)"
    match = _CLIP_NAME.fullmatch(path.stem)
    if match is None:
        return None, f"file name is not a GTZAN clip name ('{folder}.NNNNN{path.suffix}')"
    if match["genre"] != folder:
        return None, f"file name says '{match['genre']}' but it sits in the '{folder}' folder"
    return path.stem, ""


def is_gtzan(root: Path) -> bool:
    """True when ``root`` looks like GTZAN: most audio files are ``<genre>/<genre>.NNNNN.<ext>``.

    Recognises ``root/genres/``, ``root/genres_original/`` (also under ``Data/``) and ``root``
    being the genres folder itself; any audio extension counts (``.au``, ``.wav``, ``.flac``...).
    """
    genre_root = _genre_root(Path(root))
    if genre_root is None:
        return False
    total = matched = 0
    for path in _audio_files(genre_root):
        total += 1
        matched += _clip_id(path, genre_root)[0] is not None
    return matched > 0 and 2 * matched > total


def load_gtzan(root: Path) -> Collection:
    """One track per GTZAN clip, labelled by genre, with its split from :func:`filtered_split`.

    Clips outside the filtered split get ``split=None``; ``group`` is None (GTZAN ships no
    artist labels). Damaged clips (jazz.00054) and misnamed files are skipped with a reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    genre_root = _genre_root(root)
    if genre_root is None:
        raise ValueError(
            f"{root}: not a GTZAN folder; expected genre folders ({', '.join(GTZAN_GENRES)}) in "
            f"{root}/genres/, {root}/genres_original/ or {root}/ itself"
        )
    split_of = _split_of()
    tracks: list[Track] = []
    skipped: list[Skipped] = []
    warnings: list[str] = []
    seen: dict[str, Path] = {}
    for path in _audio_files(genre_root):
        clip, why = _clip_id(path, genre_root)
        if clip is None:
            skipped.append(Skipped(path, why))
        elif clip in seen:
            skipped.append(Skipped(path, f"a second file for clip {clip}; using {seen[clip]}"))
        elif clip in TRUNCATED:
            skipped.append(Skipped(path, f"{clip} is {TRUNCATED[clip]}"))
            warnings.append(f"skipped {path}: {clip} is {TRUNCATED[clip]}")
            seen[clip] = path
        else:
            seen[clip] = path
            label = clip.split(".")[0]
            tracks.append(Track(path=path, label=label, source_id=clip, split=split_of.get(clip)))
    missing = [g for g in GTZAN_GENRES if not any(t.label == g for t in tracks)]
    if missing:
        warnings.append(f"{genre_root}: no clips for GTZAN genre(s) {', '.join(missing)}")
    return Collection(name=root.name or "gtzan", tracks=tracks, skipped=skipped,
                      warnings=warnings, kind="gtzan")  # fmt: skip


def filtered_coverage(collection: Collection) -> float:
    """Fraction of the filtered split's 930 clip ids present in ``collection`` (0.0 to 1.0).

    jazz.00054 is in the split but always skipped, so a complete GTZAN reaches 929/930.
    """
    listed = _split_of()
    present = {t.source_id for t in collection.tracks if t.source_id in listed}
    return len(present) / len(listed)
