"""A token bucket per sender (WhatsApp number or Messaging Service), in this replica's memory.

Each send takes a token; a wait beyond ``max_wait`` is not taken in the handler but raised as
``RateLimited``, and the message goes back to the stream. Buckets are per replica
(docs/sender.md, *Rate limit: per replica*).
"""

from __future__ import annotations

import asyncio

from chatbot_common.ratelimit import TokenBucket

__all__ = ["RateLimiter"]


class RateLimiter:
    """One :class:`TokenBucket` per sender, created on first use."""

    def __init__(self, rate: float, burst: int, max_wait: float) -> None:
        self._rate = rate
        self._burst = burst
        self._max_wait = max_wait
        self._buckets: dict[str, TokenBucket] = {}

    async def acquire(self, sender: str) -> float:
        """Wait for ``sender``'s next token; return the seconds waited.

        Raises :class:`RateLimited` when the token is due later than ``max_wait``.
        """
        bucket = self._buckets.get(sender)
        if bucket is None:
            bucket = self._buckets[sender] = TokenBucket(self._rate, self._burst)
        wait = bucket.reserve(self._max_wait)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait
