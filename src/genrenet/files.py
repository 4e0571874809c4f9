"""The names genrenet gives the files it writes, and the one way it writes them: atomically.

Every writer goes through :func:`atomic_write`, :func:`atomic_path` or :func:`atomic_directory`:
the data goes to a temporary name in the same folder and is renamed over the target, so a crash
or ``kill -9`` leaves either the old file or the new one, never half of one. Temporary files are
created with plain ``open``/``mkdir`` (not ``mkstemp``/``mkdtemp``), so the result has the usual
permissions under the user's umask (0644 / 0755 under umask 022) and a model handed to another
user or a service account can be read by it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genrenet.errors import DiskFullError

__all__ = [
    "BUNDLE_FORMAT",
    "CONFIG_FILE",
    "METRICS_FILE",
    "MODEL_DIR",
    "SPLIT_FILE",
    "WEIGHTS_FILE",
    "atomic_directory",
    "atomic_path",
    "atomic_write",
    "write_json",
]

CONFIG_FILE = "config.json"
"""A model bundle's settings: labels, features, normalisation, architecture, provenance."""
WEIGHTS_FILE = "model.safetensors"
"""A model bundle's weights (safetensors: no pickle, safe to receive from someone else)."""
BUNDLE_FORMAT = 1
"""Version of the bundle layout written into ``config.json``."""
MODEL_DIR = "model"
"""The bundle's folder inside a run folder (``genrenet train --out RUN`` -> ``RUN/model``)."""
SPLIT_FILE = "split.json"
"""Which track went to train, valid and test in a run, and why."""
METRICS_FILE = "metrics.json"
"""A run's held-out figures per segment and per track."""


def _temp_name(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix (``np.save`` wants ``.npy``)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def is_disk_full(err: OSError) -> bool:
    """Whether a write failed for want of space: ENOSPC or a quota, or NumPy's short write
    (``"165504 requested and 25568 written"``, which carries no errno)."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return (
        err.errno is None and re.fullmatch(r"\d+ requested and \d+ written", str(err)) is not None
    )


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name; on success it
    is renamed over ``path``, on failure removed.

    >>> with atomic_path("cache/x.npy") as tmp:  # doctest: +SKIP
    ...     np.save(tmp, matrix)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(path) from err
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; returns ``path``."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "xb") as handle:
        handle.write(payload)
        handle.flush()
    return path


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    """``data`` as strict JSON (no NaN or infinity: other readers reject them) at ``path``,
    written atomically."""
    return atomic_write(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole
    (an existing folder is moved aside first and removed after), on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()  # not mkdtemp: its 0700 mode would stick to the renamed folder
    try:
        yield tmp
        if path.exists():
            backup = path.with_name(f".{path.name}.{os.getpid()}.old")
            os.replace(path, backup)
            os.replace(tmp, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(path) from err
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
