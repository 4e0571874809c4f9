"""Content fingerprints of audio files: which tracks a model was fitted on, found again under
any path.

A model records the fingerprints of its training and validation tracks (``fitted_on`` in its
``config.json``); ``genrenet evaluate`` fingerprints the tracks it scores and says how many of
them the model has seen, since figures on those are not held out. A fingerprint hashes a file's
size, first and last 16 KiB: reading 32 KiB is cheap beside decoding, and a copied, moved or
linked file keeps it, while a re-encoded one does not (it is different bytes; this cannot tell).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

#: Bytes read at each end of a file.
EDGE_BYTES = 16 * 1024
#: Hex characters kept of the SHA-256 (64 bits: no chance collision among a library's files).
DIGITS = 16
#: How the fingerprints were made, recorded beside them: a record made another way is ignored.
METHOD = f"sha256(size|first {EDGE_BYTES // 1024} KiB|last {EDGE_BYTES // 1024} KiB)[:{DIGITS}]"


def file_fingerprint(path: str | Path) -> str:
    """The fingerprint of one file (``OSError`` when it cannot be read)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(0)
        head = fh.read(EDGE_BYTES)
        fh.seek(max(size - EDGE_BYTES, 0))
        tail = fh.read(EDGE_BYTES)
    digest = hashlib.sha256(str(size).encode() + b"|" + head + b"|" + tail)
    return digest.hexdigest()[:DIGITS]


def _readable_fingerprints(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str]]:
    """``(path, fingerprint)`` of each of ``paths`` that can be read; the others are left out."""
    for path in paths:
        try:
            yield Path(path), file_fingerprint(path)
        except OSError:
            continue


def fingerprints(paths: Iterable[str | Path]) -> list[str]:
    """Sorted, distinct fingerprints of ``paths``; a file that cannot be read is left out."""
    return sorted({fp for _, fp in _readable_fingerprints(paths)})


def seen_tracks(paths: Iterable[str | Path], fitted_on: Iterable[str]) -> list[Path]:
    """Those of ``paths`` whose fingerprint is among ``fitted_on`` (a model's record)."""
    known = set(fitted_on)
    return [path for path, fp in _readable_fingerprints(paths) if fp in known]


def fitted_on_record(paths: Iterable[str | Path]) -> dict[str, Any]:
    """What a model's metadata records of the tracks it was fitted on (``fitted_on`` and the
    fingerprint method)."""
    return {"fitted_on": fingerprints(paths), "fitted_on_method": METHOD}


def recorded_fingerprints(metadata: dict[str, Any]) -> list[str] | None:
    """The fingerprints a model's metadata records, or None when it records none made this way."""
    found = metadata.get("fitted_on")
    if metadata.get("fitted_on_method") != METHOD or not isinstance(found, list):
        return None
    return found
