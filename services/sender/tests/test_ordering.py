"""One user's replies leave in stream order, even while an earlier one is slow or retried.

Also across replicas: a reply that a replica had in hand when it died comes back only after the
ack wait, and the user's next reply, delivered at once to another replica, must wait for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot_common.topology import OUTBOUND, Consumer, provision
from chatbot_sandbox.twilio.records import TwilioFault
from chatbot_sender.app import DURABLE
from chatbot_sender.progress import Progress

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


async def test_a_reply_waits_for_an_earlier_one_that_a_dead_replica_had_in_hand(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        user = h.user(4)
        settings = {"twilio_timeout": 1.0, "nats_publish_timeout": 1.0, "send_ack_wait": 2.5}
        consumer = Consumer(OUTBOUND, DURABLE, ack_wait=settings["send_ack_wait"])
        await provision(h.js, streams=(OUTBOUND,), consumers=(consumer,), duplicate_window=7200)
        await h.publish(h.outbound(user, "first reply", idempotency_key="u4.1-1"))
        # A replica fetches the first reply and dies with it: no ack, no nak.
        dead_replica = await h.js.pull_subscribe_bind(DURABLE, OUTBOUND.name)
        (in_hand,) = await dead_replica.fetch(1, timeout=5)
        await h.publish(h.outbound(user, "next reply", idempotency_key="u4.2-2"))
        async with h.sender(**settings):
            await h.verdicts.acked(2, timeout=15)
        sent = [record.body for record in h.sandbox.store.twilio_messages.snapshot()]
        finished = await (await h.deliveries()).get(Progress.key("u4"))
    assert sent == ["first reply", "next reply"]
    assert int(finished.value or b"0") == in_hand.metadata.sequence.stream + 1
