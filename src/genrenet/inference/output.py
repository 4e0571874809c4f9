"""Library-scale output: one record per file, written as files finish and never all held in
memory, in JSON Lines (``.jsonl``) or Parquet (``.parquet``, a folder of shards); resumable.

JSON Lines: each record is one line, written whole and flushed, so a ``kill -9`` leaves at most
a torn last line, which :func:`open_output` detects and cuts off when resuming. Parquet: records
are buffered and written as a new shard (``part-00000.parquet``, ...) every ``shard_size`` records
or ``flush_seconds`` seconds, each shard atomically, so a crash loses at most the buffered ones.
A record is a dict with at least ``path`` (the input as given) and ``error`` (None when it went
well); a path already written is never written again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from genrenet.errors import GenrenetError
from genrenet.files import atomic_path

__all__ = ["FORMATS", "OutputError", "ResultWriter", "open_output", "read_records"]

FORMATS = {".jsonl": "JSON Lines", ".parquet": "Parquet (a folder of shards)"}


class OutputError(GenrenetError):
    """An output file that cannot be used: wrong suffix, exists without --resume, corrupt."""


class ResultWriter(Protocol):
    """Where records go; ``done`` holds the paths already written (from earlier runs too)."""

    path: Path
    done: set[str]

    def write(self, record: dict[str, Any]) -> bool:
        """Write one record; False (and nothing written) when its path is already done."""

    def close(self) -> None:
        """Flush everything to disk."""


def open_output(path: str | os.PathLike, resume: bool = False, **kwargs: Any) -> ResultWriter:
    """A writer for ``path`` by its suffix. Without ``resume`` an existing output is refused
    (nothing a user made is overwritten); with it, its records are read and new ones appended."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"{path}: --out must end in .jsonl or .parquet")
    if path.exists() and not resume:
        raise OutputError(f"{path} exists: add --resume to continue it, or choose another name")
    if suffix == ".jsonl":
        return JsonlWriter(path, **kwargs)
    return ParquetWriter(path, **kwargs)


def read_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The complete records of an output (a torn last JSON line is left out)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        yield from _read_parquet(path)
        return
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            if raw.strip():
                yield json.loads(raw)


class JsonlWriter:
    """Records as JSON Lines, appended and flushed one by one (``fsync_seconds`` apart synced)."""

    def __init__(self, path: Path, fsync_seconds: float = 10.0) -> None:
        self.path = path
        self.done: set[str] = set()
        self.dropped_torn = False
        if path.exists():
            self._recover()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "ab")  # noqa: SIM115 - held open for the whole run
        self._fsync_seconds = fsync_seconds
        self._synced = time.monotonic()

    def _recover(self) -> None:
        """Read the paths already written; cut off a torn last line (a run killed mid-write)."""
        good = 0
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                record = _parse_line(raw) if raw.endswith(b"\n") else None
                if record is None:
                    if fh.read(1):
                        raise OutputError(
                            f"{self.path} line {number}: not a JSON record, and not the last "
                            "line; the file is damaged (fix or remove that line)"
                        )
                    self.dropped_torn = True
                    break
                if record:
                    self.done.add(str(record["path"]))
                good += len(raw)
        if self.dropped_torn:
            os.truncate(self.path, good)

    def write(self, record: dict[str, Any]) -> bool:
        key = str(record["path"])
        if key in self.done:
            return False
        line = json.dumps(record, allow_nan=False, ensure_ascii=False) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._fh.flush()
        self.done.add(key)
        if time.monotonic() - self._synced > self._fsync_seconds:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()
        return True

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """A record, ``{}`` for a blank line, None when the line is not a record."""
    if not raw.strip():
        return {}
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and "path" in record else None


SHARD_GLOB = "part-*.parquet"


class ParquetWriter:
    """Records as Parquet shards in a folder, each written whole (atomically)."""

    def __init__(self, path: Path, shard_size: int = 1000, flush_seconds: float = 60.0) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OutputError(
                "Parquet output needs pyarrow: pip install 'genrenet[ray]' (or pip install pyarrow)"
            ) from None
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: a Parquet output is a folder of shards, not a file")
        self.path = path
        self.done = {str(r["path"]) for r in _read_parquet(path)} if path.exists() else set()
        shards = sorted(path.glob(SHARD_GLOB)) if path.exists() else []
        self._next = 1 + max((int(s.stem.split("-")[1]) for s in shards), default=-1)
        self._buffer: list[dict[str, Any]] = []
        self._shard_size = shard_size
        self._flush_seconds = flush_seconds
        self._flushed = time.monotonic()

    def write(self, record: dict[str, Any]) -> bool:
        key = str(record["path"])
        if key in self.done:
            return False
        self._buffer.append(record)
        self.done.add(key)
        if (
            len(self._buffer) >= self._shard_size
            or time.monotonic() - self._flushed > self._flush_seconds
        ):
            self.flush()
        return True

    def flush(self) -> None:
        """Write the buffered records as one new shard."""
        self._flushed = time.monotonic()
        if not self._buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [_flat(r) for r in self._buffer]
        extra = sorted({key for row in rows for key in row} - set(_COLUMNS))
        schema = pa.schema(
            [(name, pa.float64() if name == "score" else pa.string()) for name in _COLUMNS]
            + [(key, pa.string()) for key in extra]
        )
        table = pa.Table.from_pylist(rows, schema=schema)
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path / f"part-{self._next:05d}.parquet") as tmp:
            pq.write_table(table, tmp)
        self._next += 1
        self._buffer = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ParquetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_COLUMNS = ("path", "error", "label", "score")
"""The Parquet columns every shard has (text, text, text, float); the rest are JSON text."""


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """A record for Parquet: ``path``, ``error`` and the best label and score as columns; nested
    parts (``top``, ``timeline``) as JSON text so that every shard has the same schema."""
    top = record.get("top") or []
    row: dict[str, Any] = {
        "path": str(record["path"]),
        "error": record.get("error"),
        "label": top[0]["label"] if top else None,
        "score": float(top[0]["score"]) if top else None,
    }
    for key, value in record.items():
        if key not in row:
            row[key] = json.dumps(value, allow_nan=False)
    return row


def _read_parquet(folder: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for shard in sorted(folder.glob(SHARD_GLOB)):
        for row in pq.read_table(shard).to_pylist():
            record = {"path": row["path"], "error": row.get("error")}
            for key, value in row.items():
                if key not in ("path", "error", "label", "score"):
                    record[key] = json.loads(value) if isinstance(value, str) else value
            yield record
