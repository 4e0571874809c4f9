"""Genres into a library's tags: plan (the dry run), write (through a journal), undo, resume.

:func:`plan` reads every file's current value, asks the classifier about the files that may
change (streamed, the model loaded once, files decoded ahead) and yields one :class:`Entry` per
file, in input order, saying what would be written or why the file is left alone.
:func:`write_entry` applies one planned entry through :func:`~genrenet.library.safe_write.rewrite`
with its journal record on disk before the file is replaced; :func:`undo` restores what a journal
recorded; :func:`finished_paths` tells ``--resume`` which files a journal shows done.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genrenet.files import write_json
from genrenet.library.journal import Journal, read_journal
from genrenet.library.safe_write import FileStamp, rewrite, stamp, writable_reason
from genrenet.library.tags import (
    FileChangedError,
    TagError,
    TagFile,
    UnsupportedFormatError,
    Values,
)

__all__ = [
    "MODES",
    "Entry",
    "RetagOptions",
    "finished_paths",
    "inspect_file",
    "load_plan",
    "plan",
    "propose",
    "save_plan",
    "summarize",
    "undo",
    "write_entry",
]

MODES = ("fill", "replace", "append")
"""fill: only files without a value; replace: set the value; append: add to what is there."""

# Why a file is left alone (status "left") or failed (status "failed").
ALREADY_TAGGED = "already tagged in fill mode"
BELOW_THRESHOLD = "below the score threshold"
READ_ONLY = "read-only"
UNCHANGED = "already has this value"
CHANGED = "changed since the dry run"
DONE = "already done (journal)"
AS_BEFORE = "already as before"
EDITED_SINCE = "changed since retag wrote it"
UNSUPPORTED = "format without tags genrenet can write"
UNREADABLE = "unreadable"
WRITE_FAILED = "write failed"
MISSING = "file not found"

CHUNK = 128
"""Files inspected, then predicted, at a time: the first results come without waiting for a
whole library's tags to be read, and the model stays loaded across chunks."""


@dataclass(frozen=True)
class RetagOptions:
    """What to write: which field, which labels (top-k above a score), how, in what words."""

    field: str = "genre"
    top_k: int = 1
    min_score: float = 0.5
    mode: str = "fill"
    template: str = "{label}"
    keep_mtime: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {self.min_score}")
        if not self.field.strip():
            raise ValueError("the field name is empty")
        try:
            self.template.format(label="rock", Label="Rock", score=0.5, rank=1)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"format {self.template!r} is not valid: use {{label}}, {{Label}} (capitalised), "
                f"{{score}} and {{rank}} ({err})"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (journal and plan files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetagOptions:
        """Back from :meth:`to_dict`."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Entry:
    """One file: its value now, the value proposed, and what happened or why not.

    ``status`` is ``"write"`` (planned), ``"written"``, ``"restored"``, ``"left"`` (alone, with
    a ``reason``) or ``"failed"`` (with a ``reason``); ``detail`` says more in words.
    """

    path: Path
    status: str = "pending"
    current: Values = None
    proposed: Values = None
    score: float | None = None
    reason: str | None = None
    detail: str | None = None
    stamp: FileStamp | None = None
    format: str | None = None
    top: list[dict[str, Any]] = field(default_factory=list)

    def leave(self, reason: str, detail: str | None = None) -> Entry:
        """Mark the file as left alone."""
        self.status, self.reason, self.detail = "left", reason, detail
        return self

    def fail(self, reason: str, detail: str | None = None) -> Entry:
        """Mark the file as failed."""
        self.status, self.reason, self.detail = "failed", reason, detail
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``--json`` output and plan files."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["stamp"] = self.stamp.to_dict() if self.stamp else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        """Back from :meth:`to_dict`."""
        data = dict(data)
        data["path"] = Path(data["path"])
        data["stamp"] = FileStamp(**data["stamp"]) if data.get("stamp") else None
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _has_value(values: Values) -> bool:
    return bool(values) and any(v.strip() for v in values)


def absolute(path: str | os.PathLike) -> Path:
    """The absolute form of a path, symlinks kept (the journal's and the plan's key)."""
    return Path(os.path.abspath(path))


def inspect_file(path: str | os.PathLike, options: RetagOptions) -> Entry:
    """Read a file's current value and say whether it may change at all (before predicting)."""
    entry = Entry(absolute(path))
    try:
        entry.stamp = stamp(entry.path)
    except FileNotFoundError:
        return entry.fail(MISSING, "file not found")
    except OSError as err:
        return entry.fail(UNREADABLE, err.strerror or str(err))
    try:
        tags = TagFile(entry.path)
        entry.current = tags.get(options.field)
        entry.format = tags.format
    except UnsupportedFormatError as err:
        return entry.leave(UNSUPPORTED, err.reason)
    except TagError as err:
        return entry.fail(UNREADABLE, err.reason)
    if options.mode == "fill" and _has_value(entry.current):
        return entry.leave(ALREADY_TAGGED, f"has {'; '.join(entry.current)}")
    reason = writable_reason(entry.path.resolve())
    if reason:
        return entry.leave(READ_ONLY, reason)
    return entry


def propose(
    current: Values, top: Sequence[dict[str, Any]], options: RetagOptions
) -> tuple[Values, float | None, str | None, str | None]:
    """The value to write from a prediction's best labels, the best score, and when nothing is
    to be written the reason and its detail."""
    best = float(top[0]["score"]) if top else None
    kept = [t for t in top[: options.top_k] if float(t["score"]) >= options.min_score]
    if not kept:
        detail = f"best {top[0]['label']} {best:.2f} < {options.min_score:g}" if top else None
        return None, best, BELOW_THRESHOLD, detail
    values: list[str] = []
    for rank, t in enumerate(kept, 1):
        label = str(t["label"])
        text = options.template.format(
            label=label, Label=label[:1].upper() + label[1:], score=float(t["score"]), rank=rank
        )
        if text not in values:
            values.append(text)
    if options.mode == "fill" and _has_value(current):
        return None, best, ALREADY_TAGGED, None
    if options.mode == "append" and current:
        have = {v.lower() for v in current}
        values = list(current) + [v for v in values if v.lower() not in have]
    if values == current:
        return values, best, UNCHANGED, None
    return values, best, None, None


def plan(
    paths: Iterable[str | os.PathLike],
    classifier,
    options: RetagOptions,
    workers: int = 2,
    done: set[Path] | frozenset[Path] = frozenset(),
) -> Iterator[Entry]:
    """One entry per file, in input order: ``status == "write"`` with the proposed value, or
    left alone / failed with the reason. ``classifier`` has ``predict_files`` (the facade);
    files in ``done`` (absolute paths) are left alone as already done."""
    paths = list(paths)
    for start in range(0, len(paths), CHUNK):
        chunk = []
        for path in paths[start : start + CHUNK]:
            if absolute(path) in done:
                chunk.append(Entry(absolute(path)).leave(DONE))
            else:
                chunk.append(inspect_file(path, options))
        todo = [e for e in chunk if e.status == "pending"]
        predictions = classifier.predict_files(
            [e.path for e in todo], top_k=options.top_k, workers=workers
        )
        for entry in chunk:
            if entry.status == "pending":
                _decide(entry, next(predictions), options)
            yield entry


def _decide(entry: Entry, prediction, options: RetagOptions) -> None:
    if prediction.error is not None:
        entry.fail(UNREADABLE, prediction.error)
        return
    entry.top = list(prediction.top)
    values, entry.score, reason, detail = propose(entry.current, prediction.top, options)
    entry.proposed = values
    if reason:
        entry.leave(reason, detail)
    else:
        entry.status = "write"


def write_entry(entry: Entry, options: RetagOptions, journal: Journal, model: str) -> Entry:
    """Write one planned entry: copy, set the field, journal old and new, replace. Returns the
    entry with status written, left (changed since it was read) or failed."""
    if entry.status != "write":
        return entry

    def edit(copy: Path) -> tuple[Values, Values]:
        tags = TagFile(copy)
        old = tags.get(options.field)
        if old != entry.current:
            raise FileChangedError(entry.path, f"its {options.field} is now {old}")
        tags.set(options.field, entry.proposed)
        tags.save()
        return old, TagFile(copy).get(options.field)

    def record(result: tuple[Values, Values]) -> None:
        journal.record(entry.path, options.field, result[0], result[1], model)

    try:
        _, new = rewrite(entry.path, edit, record, options.keep_mtime, expected=entry.stamp)
    except FileChangedError as err:
        return entry.leave(CHANGED, err.reason)
    except TagError as err:
        return entry.fail(WRITE_FAILED, err.reason)
    except OSError as err:
        return entry.fail(WRITE_FAILED, err.strerror or str(err))
    entry.status, entry.proposed = "written", new
    return entry


def finished_paths(journal_path: str | os.PathLike) -> tuple[dict[str, Any], set[Path]]:
    """A journal's run description and the files it shows done (their field holds the value
    last recorded as written; a file whose record reached the disk but whose copy never
    replaced it is not done)."""
    from genrenet.library.journal import JournalError

    run, records = read_journal(journal_path)
    if run is None:
        raise JournalError(f"{journal_path}: no run description (not a retag --write journal)")
    last = {r.path: r for r in records}
    done = set()
    for path, record in last.items():
        try:
            if TagFile(path).get(record.field) == record.new:
                done.add(path)
        except (TagError, OSError):
            pass  # planned again, where the error is reported
    return run, done


def undo(journal_path: str | os.PathLike, keep_mtime: bool = False) -> Iterator[Entry]:
    """Restore every value a journal recorded (removing fields that were absent before), one
    entry per file. A file already as before is left alone (undo after undo changes nothing);
    a file whose field changed since retag wrote it is left alone and reported."""
    _, records = read_journal(journal_path)
    groups: dict[tuple[Path, str], list] = {}
    for record in records:
        groups.setdefault((record.path, record.field), []).append(record)
    for (path, name), group in groups.items():
        original, written = group[0].old, group[-1].new
        entry = Entry(path, proposed=original)
        try:
            entry.stamp = stamp(path)
            entry.current = TagFile(path).get(name)
        except FileNotFoundError:
            yield entry.fail(MISSING, "file not found")
            continue
        except TagError as err:
            yield entry.fail(UNREADABLE, err.reason)
            continue
        except OSError as err:
            yield entry.fail(UNREADABLE, err.strerror or str(err))
            continue
        if entry.current == original:
            yield entry.leave(AS_BEFORE)
            continue
        if entry.current != written:
            yield entry.leave(EDITED_SINCE, f"now {entry.current}, retag wrote {written}")
            continue

        def edit(copy: Path, name: str = name, entry: Entry = entry) -> None:
            tags = TagFile(copy)
            if tags.get(name) != entry.current:
                raise FileChangedError(entry.path, f"its {name} is now {tags.get(name)}")
            tags.set(name, entry.proposed)
            tags.save()

        try:
            rewrite(path, edit, keep_mtime=keep_mtime, expected=entry.stamp)
            entry.status = "restored"
        except FileChangedError as err:
            entry.leave(EDITED_SINCE, err.reason)
        except TagError as err:
            entry.fail(WRITE_FAILED, err.reason)
        except OSError as err:
            entry.fail(WRITE_FAILED, err.strerror or str(err))
        yield entry


def summarize(entries: Iterable[Entry]) -> dict[str, Any]:
    """Counts: by status, and the files left alone and failed by reason."""
    entries = list(entries)
    status = Counter(e.status for e in entries)
    return {
        "files": len(entries),
        "write": status["write"],
        "written": status["written"],
        "restored": status["restored"],
        "left": dict(Counter(e.reason for e in entries if e.status == "left")),
        "failed": dict(Counter(e.reason for e in entries if e.status == "failed")),
    }


def save_plan(
    path: str | os.PathLike, entries: Iterable[Entry], options: RetagOptions, model: str
) -> Path:
    """A dry run's entries, written atomically, for ``--write --plan`` to apply unchanged."""
    data = {
        "kind": "genrenet-retag-plan",
        "options": options.to_dict(),
        "model": model,
        "entries": [e.to_dict() for e in entries],
    }
    return write_json(path, data)


def load_plan(path: str | os.PathLike) -> tuple[RetagOptions, str, list[Entry]]:
    """A saved dry run: its options, model and entries."""
    from genrenet.library.journal import JournalError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("kind") != "genrenet-retag-plan":
            raise ValueError("not a genrenet retag plan")
        entries = [Entry.from_dict(e) for e in data["entries"]]
        return RetagOptions.from_dict(data["options"]), data["model"], entries
    except FileNotFoundError:
        raise JournalError(f"{path}: no such plan file") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise JournalError(f"{path}: cannot read the plan ({err})") from None
