"""The retag journal: JSON Lines, one record per file written, appended and flushed to disk
before the file is replaced, so that every change can be undone even after ``kill -9``.

The first line describes the run (``"kind": "run"``: inputs, options, model) so that
``--resume`` can continue it; each ``"kind": "write"`` line holds ``path``, ``field``, ``old``
and ``new`` values (None for a field that was absent), ``time`` and ``model``. A last line cut
short by a crash is ignored on reading.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrenet.errors import GenrenetError

__all__ = ["Journal", "JournalError", "JournalRecord", "default_journal_path", "read_journal"]


class JournalError(GenrenetError):
    """A journal that cannot be read or written; the message names the file and the problem."""


@dataclass(frozen=True)
class JournalRecord:
    """One file written: what the field held before and after."""

    path: Path
    field: str
    old: list[str] | None
    new: list[str] | None
    time: float
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON line."""
        return {
            "kind": "write",
            "path": str(self.path),
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "time": self.time,
            "model": self.model,
        }


class Journal:
    """An open journal file, appended to; every record reaches the disk before it returns."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        except OSError as err:
            raise JournalError(f"{self.path}: cannot write the journal ({err.strerror})") from None
        self._repair_tail()

    def _repair_tail(self) -> None:
        """After a crash mid-line, end that line so the next record starts on its own line."""
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    self._handle.write("\n")
                    self._sync()

    def _sync(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def append(self, data: dict[str, Any]) -> None:
        """Append one record and force it to disk."""
        self._handle.write(json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n")
        self._sync()

    def start(self, inputs: list[str], options: dict[str, Any], model: str | None) -> None:
        """The run's description, read back by ``--resume``."""
        self.append(
            {
                "kind": "run",
                "inputs": inputs,
                "options": options,
                "model": model,
                "time": time.time(),
                "cwd": os.getcwd(),
            }
        )

    def record(
        self, path: Path, field: str, old: list[str] | None, new: list[str] | None, model: str
    ) -> None:
        """One file about to be replaced."""
        self.append(JournalRecord(path, field, old, new, time.time(), model).to_dict())

    def close(self) -> None:
        """Close the file (records are on disk already)."""
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_journal_path() -> Path:
    """Where a ``--write`` run without ``--journal`` keeps its journal:
    ``$XDG_DATA_HOME/genrenet/journals/retag-<date>-<time>-<pid>.jsonl``."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    name = time.strftime("retag-%Y%m%d-%H%M%S") + f"-{os.getpid()}.jsonl"
    return base / "genrenet" / "journals" / name


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JournalError(f"{path}: no such journal") from None
    except (OSError, UnicodeDecodeError) as err:
        raise JournalError(f"{path}: cannot read the journal ({err})") from None
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            # A line cut short by a crash (a resumed run appends after it): its file was
            # never replaced, since a record reaches the disk before its file is.
            continue
        if not isinstance(data, dict) or "kind" not in data:
            raise JournalError(f"{path}:{number}: not a genrenet retag journal record")
        yield data


def read_journal(path: str | os.PathLike) -> tuple[dict[str, Any] | None, list[JournalRecord]]:
    """The latest run's description (None if absent) and every write record, in order (undo
    restores each file to the value of its first record, so a journal several runs appended
    to goes back to before the first)."""
    run = None
    records = []
    for data in _lines(Path(path)):
        if data["kind"] == "run":
            run = data  # the latest run: the one --resume continues
        elif data["kind"] == "write":
            try:
                records.append(
                    JournalRecord(
                        Path(data["path"]),
                        data["field"],
                        data["old"],
                        data["new"],
                        float(data["time"]),
                        data.get("model"),
                    )
                )
            except (KeyError, TypeError, ValueError) as err:
                raise JournalError(f"{path}: a write record lacks {err}") from None
    return run, records
