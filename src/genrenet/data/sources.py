"""Open any supported collection by looking at what is there: CSV, FMA, GTZAN or genre folders."""

from __future__ import annotations

from pathlib import Path

from genrenet.data.fma import is_fma, load_fma
from genrenet.data.folders import load_folders
from genrenet.data.gtzan import is_gtzan, load_gtzan
from genrenet.data.manifest import load_manifest
from genrenet.data.tracks import Collection


def open_collection(source: str | Path) -> Collection:
    """Load the tracks of ``source``: a ``.csv`` manifest, an FMA tree, GTZAN, or genre folders."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    collection = _load(path)
    collection.root = path.resolve()
    return collection


def _load(path: Path) -> Collection:
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return load_manifest(path)
        raise ValueError(
            f"{path}: expected a folder of genre folders, a GTZAN or FMA tree, or a .csv manifest"
        )
    if is_fma(path):
        return load_fma(path)
    if is_gtzan(path):
        return load_gtzan(path)
    return load_folders(path)
