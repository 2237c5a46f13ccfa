"""One user's replies leave in stream order, even while an earlier one is slow or retried."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_sandbox.twilio_records import TwilioFault

if TYPE_CHECKING:
    from conftest import HarnessFactory

LONG_REPLY = "\n\n".join(letter * 1500 for letter in "abc")  # three parts


async def test_a_users_next_reply_waits_until_every_part_of_the_previous_is_sent(
    harness: HarnessFactory,
) -> None:
    async with harness(twilio_latency=0.2) as h, h.sender():
        user = h.user(1)
        await h.publish(h.outbound(user, LONG_REPLY, idempotency_key="u1.1-1"))
        await h.publish(h.outbound(user, "second reply", idempotency_key="u1.2-2"))
        await h.verdicts.acked(2, timeout=15)
        sent = h.sandbox.store.twilio_messages.snapshot()
    assert [(record.body or "")[:1] for record in sent] == ["a", "b", "c", "s"]


async def test_a_retried_reply_holds_that_users_next_reply_back_but_no_one_elses(
    harness: HarnessFactory,
) -> None:
    async with harness() as h, h.sender():
        first, other = h.user(2), h.user(3)
        h.sandbox.store.twilio_faults.append(
            TwilioFault(status=429, code=20429, retry_after="1", to=first)
        )
        await h.publish(h.outbound(first, "first reply", idempotency_key="u2.1-1"))
        await h.publish(h.outbound(first, "next reply", idempotency_key="u2.2-2"))
        await h.publish(h.outbound(other, "other user", idempotency_key="u3.1-1"))
        await h.verdicts.acked(3, timeout=15)
        sent = [record.body for record in h.sandbox.store.twilio_messages.snapshot()]
    assert sent.index("first reply") < sent.index("next reply")
    assert sent.index("other user") < sent.index("first reply")  # not held behind the retry
