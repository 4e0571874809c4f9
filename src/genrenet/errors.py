"""genrenet's exception tree: one root, :class:`GenrenetError`, that a caller can catch once.

Each error keeps the builtin base it had before (``MissingWeightsError`` is still a
``FileNotFoundError``, ``DownloadError`` a ``RuntimeError``), so existing ``except`` clauses go on
working, as librosa's ``ParameterError`` sits under ``LibrosaError``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "AudioError",
    "BundleError",
    "CacheError",
    "CheckpointError",
    "DiskFullError",
    "DownloadError",
    "GenrenetError",
    "GenrenetWarning",
    "MissingWeightsError",
]


class GenrenetError(Exception):
    """The root of every error genrenet raises on purpose; its message names what went wrong."""


class AudioError(GenrenetError):
    """A file that cannot be used as audio; ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class BundleError(GenrenetError):
    """A model folder that cannot be loaded; the message says what is wrong."""


class CheckpointError(GenrenetError):
    """A TensorFlow checkpoint that cannot be read; the message names the file and the problem."""


class DownloadError(GenrenetError, RuntimeError):
    """A download that failed; the message says which URL or file and why."""


class MissingWeightsError(GenrenetError, FileNotFoundError):
    """Pretrained weights that are not installed; the message says how to install them."""


class CacheError(GenrenetError, OSError):
    """The cache folder cannot be written; the message says where and how to use another."""


class DiskFullError(GenrenetError, OSError):
    """No space left while writing a file; the message names the file (nothing half-written
    is left behind: writes are atomic)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        super().__init__(28, f"no space left on the device while writing {self.path}")

    def __str__(self) -> str:
        return self.args[1]


class GenrenetWarning(UserWarning):
    """Something the user should know that does not stop the run (e.g. a cache that cannot be
    written, so results are recomputed each time); the CLI prints it as one line."""
