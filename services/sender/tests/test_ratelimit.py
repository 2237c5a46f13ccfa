"""The per-sender rate limit, against the sandbox (the bucket itself: chatbot_common)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import HarnessFactory


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
