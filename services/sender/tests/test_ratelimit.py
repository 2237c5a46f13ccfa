"""The per-sender token bucket, on a fake clock and against the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chatbot_sender.ratelimit import RateLimited, TokenBucket

if TYPE_CHECKING:
    from conftest import HarnessFactory


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


async def test_the_rate_holds_per_sender_number(harness: HarnessFactory) -> None:
    rate, count = 20.0, 11
    other_business = "whatsapp:+14155550000"
    async with (
        harness() as h,
        h.sender(send_rate_per_second=rate, send_rate_burst=1, send_rate_max_wait=0.2),
    ):
        for n in range(count):
            await h.publish(h.outbound(h.user(700 + n), f"message {n}"))
        for n in range(3):
            await h.publish(h.outbound(h.user(800 + n), "other", **{"from": other_business}))
        await h.verdicts.acked(count + 3, timeout=15)
        sent = h.sandbox.store.twilio_messages.snapshot()
    limited = sorted(r.received_at for r in sent if r.from_ == h.business)
    others = sorted(r.received_at for r in sent if r.from_ == other_business)
    assert (len(limited), len(others)) == (count, 3)
    # Eleven sends at 20/s with no burst take half a second, however they were queued (less
    # a little: the first request also opened the connection). Unlimited, they take ~30 ms.
    assert (limited[-1] - limited[0]).total_seconds() >= (count - 1) / rate - 0.1
    # The other number has its own bucket: its three sends did not queue behind the eleven.
    assert others[-1] < limited[-1]
