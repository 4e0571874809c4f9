"""Run a function over items a few ahead on threads, yielding results in input order
(:func:`map_ahead`), or streaming each item's values as they come (:func:`stream_ahead`)."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
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


class _Pump:
    """Runs one item's iterator on a pool thread, handing its values over a bounded queue."""

    def __init__(self, depth: int) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stopped = threading.Event()

    def run(self, fn: Callable[[T], Iterable[R]], item: T) -> None:
        try:
            for value in fn(item):
                if not self._put((True, value)):
                    return
            self._put((False, None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((False, err))

    def _put(self, message: tuple[bool, object]) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator:
        while True:
            more, value = self.queue.get()
            if more:
                yield value
            elif value is None:
                return
            else:
                raise value


def stream_ahead(
    fn: Callable[[T], Iterable[R]], items: Sequence[T], workers: int = 2, depth: int = 2
) -> Iterator[Iterator[R]]:
    """For each item in order, an iterator over ``fn(item)``, run on ``workers`` threads with
    at most ``depth`` values waiting per item and ``workers`` items in flight.

    The streaming form of :func:`map_ahead`: the next songs are decoded while the network
    scores this one, and no song is ever held whole. An exception in ``fn`` is raised by its
    item's iterator; an iterator left unfinished is stopped when the next one is asked for.
    """
    workers = max(1, workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pumps: deque[_Pump] = deque()

        def start(item: T) -> None:
            pump = _Pump(depth)
            pool.submit(pump.run, fn, item)
            pumps.append(pump)

        for item in items[:workers]:
            start(item)
        try:
            for i in range(len(items)):
                pump = pumps.popleft()
                yield iter(pump)
                pump.stopped.set()
                if i + workers < len(items):
                    start(items[i + workers])
        finally:
            for pump in pumps:
                pump.stopped.set()
