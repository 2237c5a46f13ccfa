"""The token bucket, on a fake clock."""

from __future__ import annotations

import pytest

from chatbot_common.ratelimit import RateLimited, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    assert [bucket.reserve(max_wait=1) for _ in range(4)] == pytest.approx([0, 0, 0.1, 0.2])
    clock.now += 0.3  # the reserved tokens have come due; nothing saved up
    assert bucket.reserve(max_wait=1) == pytest.approx(0.0)
    assert bucket.reserve(max_wait=1) == pytest.approx(0.1)


def test_a_wait_too_long_takes_no_token() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    assert bucket.reserve(max_wait=0) == 0
    with pytest.raises(RateLimited) as limited:
        bucket.reserve(max_wait=0.1)
    assert limited.value.delay == pytest.approx(0.5)
    assert bucket.reserve(max_wait=0.5) == pytest.approx(0.5)  # still the next token
