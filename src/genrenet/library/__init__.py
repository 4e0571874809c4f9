"""Genres into a music library's tags, safely: per-format tag access (tags.py), copy-and-replace
writes (safe_write.py), the undo journal (journal.py), and the retag plan / write / undo / resume
(retag.py). The beets plugin (``beetsplug/genrenet.py``) uses the same pieces."""

from genrenet.library.journal import Journal, JournalError, read_journal
from genrenet.library.retag import (
    MODES,
    Entry,
    RetagOptions,
    finished_paths,
    load_plan,
    plan,
    propose,
    save_plan,
    summarize,
    undo,
    write_entry,
)
from genrenet.library.tags import (
    FileChangedError,
    TagError,
    TagFile,
    UnsupportedFormatError,
    read_field,
    write_field,
)

__all__ = [
    "MODES",
    "Entry",
    "FileChangedError",
    "Journal",
    "JournalError",
    "RetagOptions",
    "TagError",
    "TagFile",
    "UnsupportedFormatError",
    "finished_paths",
    "load_plan",
    "plan",
    "propose",
    "read_field",
    "read_journal",
    "save_plan",
    "summarize",
    "undo",
    "write_entry",
    "write_field",
]
