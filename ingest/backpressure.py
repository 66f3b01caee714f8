"""Bounded concurrency into the database, answering "come back later" instead of timing out.

At most ``slots`` requests write at once; up to ``max_waiting`` more wait up to ``wait_seconds``
for a slot. Anyone beyond that, or waiting too long, gets :class:`SaturatedError`, which the API turns
into 503 with ``Retry-After``.

    limiter = WriteLimiter(slots=4, max_waiting=16, wait_seconds=2.0)
    async with limiter.slot():
        ...  # write
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SaturatedError(Exception):
    """No write slot now; ``reason`` is ``queue_full`` or ``wait_timeout``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WriteLimiter:
    def __init__(self, slots: int, max_waiting: int, wait_seconds: float) -> None:
        self._semaphore = asyncio.Semaphore(slots)
        self._max_waiting = max_waiting
        self._wait_seconds = wait_seconds
        self.waiting = 0
        self.active = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self.waiting >= self._max_waiting:
            raise SaturatedError("queue_full")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self._wait_seconds)
        except TimeoutError:
            raise SaturatedError("wait_timeout") from None
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._semaphore.release()
