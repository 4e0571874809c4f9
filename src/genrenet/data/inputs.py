"""Audio files to run on, streamed: paths, folders, glob patterns and list files (one path a line,
or a CSV manifest with a ``path`` column), yielded one at a time so that a million-file library
never has to sit in a list or on a command line."""

from __future__ import annotations

import csv
import errno
import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from genrenet.data.tracks import Skipped, is_audio_path


class NotFound(Skipped):
    """An input the user named that does not exist (a usage error, unlike a bad file)."""


def walk_audio(folder: Path) -> Iterator[Path | Skipped]:
    """Audio files under ``folder``, depth first, each folder's entries in name order; streamed
    (one folder listed at a time, never the whole tree). An entry that cannot be looked at (a
    symbolic link loop, no permission) comes as a :class:`Skipped` with the reason."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=True):
                subfolders.append(entry.path)
            elif is_audio_path(Path(entry.name)) and entry.is_file(follow_symlinks=True):
                yield Path(entry.path)
        except OSError as err:
            yield Skipped(Path(entry.path), os_reason(err))
    for sub in subfolders:
        yield from walk_audio(Path(sub))


def os_reason(err: OSError) -> str:
    """The reason in words for an entry the file system will not let us look at."""
    if err.errno == errno.ELOOP:
        return "symbolic link loop (the link points back to itself)"
    return f"cannot be read ({err.strerror or err})"


def read_list(list_file: Path) -> Iterator[str]:
    """The entries of a list file, streamed: a CSV manifest (``.csv``, a header with a ``path``
    column, paths relative to the CSV) or plain text, one path a line (blank lines and lines
    starting with ``#`` ignored; relative paths are taken from the current folder)."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"{list_file}: list file not found")
    if list_file.suffix.lower() == ".csv":
        yield from _read_csv(list_file)
        return
    with open(list_file, encoding="utf-8") as fh:
        for line in fh:
            entry = line.rstrip("\r\n")
            if entry.strip() and not entry.lstrip().startswith("#"):
                yield entry


def _read_csv(csv_path: Path) -> Iterator[str]:
    base = csv_path.parent
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "path" not in columns:
            raise ValueError(f"{csv_path}: a CSV list needs a header with a 'path' column")
        reader.fieldnames = columns
        for line, row in enumerate(reader, start=2):
            raw = (row.get("path") or "").strip()
            if not raw:
                raise ValueError(f"{csv_path} line {line}: empty path")
            path = Path(raw)
            yield str(path if path.is_absolute() else base / path)


def iter_inputs(inputs: Iterable[str], list_file: Path | None = None) -> Iterator[Path | Skipped]:
    """Each audio file named by ``inputs`` (files, folders searched recursively, glob patterns)
    and then by ``list_file``, as it is found; what cannot be found comes as a :class:`Skipped`
    with the reason. Entries of a list file are taken as files, not expanded."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from walk_audio(path)
        elif path.exists() or path.is_symlink():
            yield path
        elif any(ch in item for ch in "*?["):
            found = False
            for match in glob.iglob(item, recursive=True):
                found = True
                if Path(match).is_file():
                    yield Path(match)
            if not found:
                yield NotFound(path, "the pattern matches no file")
        else:
            yield NotFound(path, "file not found")
    if list_file is not None:
        for entry in read_list(list_file):
            path = Path(entry)
            if path.is_dir():
                yield from walk_audio(path)
            else:
                yield path
