"""A token bucket, in this replica's memory: the sender's per-number limit and the console's
outreach limit (docs/sender.md, *Rate limit: per replica*; docs/console.md)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RateLimited", "TokenBucket"]


class RateLimited(Exception):
    """The next token is further away than the caller may wait."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"rate limited for {delay:.2f}s")
        self.delay = delay


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; tokens below zero are reserved."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self, max_wait: float) -> float:
        """Take the next token; return the seconds until it is due (``<= max_wait``).

        Raises :class:`RateLimited` without taking a token when it is due later than that.
        """
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        wait = max(0.0, (1.0 - self._tokens) / self._rate)
        if wait > max_wait:
            raise RateLimited(wait)
        self._tokens -= 1.0
        return wait
