"""Keeping each user's replies in order inside one sender replica.

One message per user at a time, in fetch order; a message handed back for a retry holds the
user's later ones until its retry is due. Across replicas: :mod:`.progress`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["UserOrder"]


@dataclass
class _Hold:
    seq: int
    until: float


class UserOrder:
    """Per-user serialisation and retry holds; other users are never affected."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._holds: dict[str, _Hold] = {}

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Run the block after every earlier message of ``key`` in this replica."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def wait_before(self, key: str, seq: int) -> float:
        """Seconds message ``seq`` of ``key`` must wait for an earlier one's retry (0: none)."""
        hold = self._holds.get(key)
        if hold is None:
            return 0.0
        remaining = hold.until - time.monotonic()
        if remaining <= 0:
            del self._holds[key]
            return 0.0
        return remaining if seq > hold.seq else 0.0

    def hold(self, key: str, seq: int, delay: float) -> None:
        """Message ``seq`` of ``key`` comes back in ``delay`` s: hold later ones until then."""
        self._holds[key] = _Hold(seq, time.monotonic() + delay)

    def done(self, key: str, seq: int) -> None:
        """Message ``seq`` of ``key`` is finished (sent or given up): lift its hold."""
        hold = self._holds.get(key)
        if hold is not None and hold.seq == seq:
            del self._holds[key]
