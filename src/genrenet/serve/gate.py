"""At most N inferences at once, at most Q requests waiting; the next one gets 503 + Retry-After.

Inference runs on a worker thread, off the event loop, so a long song never stops the server
from accepting uploads, answering health checks or queueing short songs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from anyio import to_thread

from genrenet.serve.errors import ApiError

T = TypeVar("T")

RETRY_AFTER_S = 5


class InferenceGate:
    """A semaphore of ``concurrency`` slots with a waiting room of ``queue`` places."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.running = 0
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:  # made on first use, inside the server's event loop
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a worker thread once a slot is free; 503 when the waiting room is full."""
        slots = self._semaphore()
        if self.running >= self.concurrency and self.waiting >= self.queue:
            raise ApiError(
                503,
                "busy",
                f"{self.running} requests running and {self.waiting} waiting (the most the "
                f"server queues); retry in {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.waiting += 1
        try:
            await slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            return await to_thread.run_sync(fn)
        finally:
            self.running -= 1
            slots.release()
