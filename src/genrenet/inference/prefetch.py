"""Run a function over items a few ahead on threads, yielding results in input order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_ahead(fn: Callable[[T], R], items: Sequence[T], workers: int = 2) -> Iterator[R]:
    """``fn(item)`` for each item, in order, with at most ``2 * workers`` computed ahead.

    Decoding files on threads while the network runs keeps both busy and memory bounded.
    """
    workers = max(1, workers)
    ahead = workers * 2
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque(pool.submit(fn, item) for item in items[:ahead])
        for i in range(len(items)):
            result = pending.popleft().result()
            if i + ahead < len(items):
                pending.append(pool.submit(fn, items[i + ahead]))
            yield result
