"""Give freed heap memory back to the system while a long song is scored.

glibc keeps freed blocks inside its heaps (one per thread); a song scored chunk after chunk
frees and reallocates the same few sizes thousands of times, and the heaps slowly fragment, so
resident memory creeps up with the song's length although nothing is kept. ``malloc_trim``
returns the free pages; elsewhere (macOS, musl, Windows) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_freed_memory() -> None:
    """Return the heap's free pages to the system (a few milliseconds); no-op without glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
