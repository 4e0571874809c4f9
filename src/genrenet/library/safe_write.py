"""Change a user's file so that a crash or ``kill -9`` leaves it either as it was or fully
updated: edit a copy in the same folder, then ``os.replace`` it over the original.

The copy keeps the original's permissions (and owner, where allowed) and, on request, its
modification time. A file changed while it was being rewritten, or shared by several hard links
(a copy would split them), is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from genrenet.files import atomic_path
from genrenet.library.tags import FileChangedError, TagError

__all__ = ["FileStamp", "remove_leftovers", "rewrite", "stamp", "writable_reason"]

T = TypeVar("T")


@dataclass(frozen=True)
class FileStamp:
    """Size and modification time: what says a file changed since it was looked at."""

    size: int
    mtime_ns: int

    def to_dict(self) -> dict[str, int]:
        """JSON form (plan files)."""
        return {"size": self.size, "mtime_ns": self.mtime_ns}


def stamp(path: str | os.PathLike) -> FileStamp:
    """The file's current size and modification time."""
    st = os.stat(path)
    return FileStamp(st.st_size, st.st_mtime_ns)


def writable_reason(path: Path) -> str | None:
    """Why ``path`` cannot be rewritten in place (read-only file or folder, hard links), or None."""
    if not os.access(path, os.W_OK):
        return "read-only file"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"read-only folder {path.parent} (the new copy is written beside the file)"
    links = os.stat(path).st_nlink
    if links > 1:
        return f"{links} hard links share it (a rewritten copy would split them)"
    return None


def rewrite(
    path: str | os.PathLike,
    edit: Callable[[Path], T],
    before_replace: Callable[[T], None] | None = None,
    keep_mtime: bool = False,
    expected: FileStamp | None = None,
) -> T:
    """Copy ``path`` beside itself, ``edit(copy)``, call ``before_replace(result)`` (the journal
    record), then rename the copy over ``path``; returns what ``edit`` returned.

    ``expected`` is the stamp the caller saw; a file whose size or time differs is refused
    (:class:`TagError`), as is one changed while the copy was edited.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    before = os.stat(path)
    now = FileStamp(before.st_size, before.st_mtime_ns)
    if expected is not None and now != expected:
        raise FileChangedError(path, "changed since it was read (size or modification time)")
    reason = writable_reason(path)
    if reason:
        raise TagError(path, reason)
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        os.chmod(tmp, stat.S_IMODE(before.st_mode))
        with contextlib.suppress(OSError):  # only root may give a file away
            os.chown(tmp, before.st_uid, before.st_gid)
        result = edit(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if keep_mtime:
            os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
        if stamp(path) != now:
            raise FileChangedError(path, "changed while its tags were being written; left as it is")
        if before_replace is not None:
            before_replace(result)
    _fsync_folder(path.parent)
    return result


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_LEFTOVER = re.compile(r"^\.(?P<stem>.+)\.\d+\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]+)$")


def remove_leftovers(paths: list[Path]) -> list[Path]:
    """Delete the copies a killed run left beside these files (``.<stem>.<pid>.<hex>.tmp<suffix>``,
    genrenet.files' temporary names) and return them; the files themselves are never touched."""
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for path in paths:
        wanted.setdefault(path.parent, set()).add((path.stem, path.suffix))
    removed = []
    for folder, names in wanted.items():
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for child in children:
            match = _LEFTOVER.match(child.name)
            if match and (match["stem"], match["suffix"]) in names:
                child.unlink(missing_ok=True)
                removed.append(child)
    return removed
