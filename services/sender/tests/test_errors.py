"""Twilio's failures, injected in the sandbox: retried later or given up, as the table says."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from chatbot_common.contracts import DeadLetter, decode
from chatbot_sandbox.twilio.records import TwilioFault

if TYPE_CHECKING:
    from conftest import HarnessFactory

SENDS = "chatbot_outbound_sends_total"

RETRYABLE = [
    TwilioFault(status=429, code=20429),
    TwilioFault(status=429),  # a bare 429, no Twilio code
    TwilioFault(status=400, code=63018),
    TwilioFault(status=400, code=63017),
    TwilioFault(status=500, code=20500),
    TwilioFault(status=503),
    TwilioFault(status=500, delay=1.5),  # answered after the sender's timeout
]
PERMANENT = [21211, 63003, 63014, 63024, 21617, 21610]  # 63016: test_window.py


async def test_each_retryable_failure_is_retried_and_the_part_sent_once(
    harness: HarnessFactory,
) -> None:
    labels = ["20429", "429", "63018", "63017", "20500", "503", "timeout"]
    async with harness() as h, h.sender(twilio_timeout=0.5):
        before = {
            label: h.metric(SENDS, operation="message", outcome="retried", code=label)
            for label in labels
        }
        users = [h.user(100 + n) for n in range(len(RETRYABLE))]
        for to, fault in zip(users, RETRYABLE, strict=True):
            h.sandbox.store.twilio_faults.append(fault.model_copy(update={"to": to}))
        for to in users:
            await h.publish(h.outbound(to, f"for {to}"))
        await h.verdicts.acked(len(users), timeout=15)
        sent = h.sandbox.store.twilio_messages.snapshot()
        rejected = await h.sandbox.store.twilio_rejected.wait_for(len(users), timeout=5)
    assert sorted(record.to or "" for record in sent) == sorted(users)
    assert sorted(record.to or "" for record in rejected) == sorted(users)
    for label in labels:
        after = h.metric(SENDS, operation="message", outcome="retried", code=label)
        assert after == before[label] + 1, label


async def test_each_permanent_failure_is_dead_lettered_with_its_code(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        dead = await h.nc.subscribe("chat.dlq.sender")
        async with h.sender():
            counted = {
                code: h.metric(SENDS, operation="message", outcome="rejected", code=str(code))
                for code in PERMANENT
            }
            users = {h.user(200 + n): code for n, code in enumerate(PERMANENT)}
            for to, code in users.items():
                h.sandbox.store.twilio_faults.append(TwilioFault(to=to, status=400, code=code))
                await h.publish(h.outbound(to, "never delivered"))
            letters = [decode(DeadLetter, (await dead.next_msg(timeout=10)).data) for _ in users]
            await h.verdicts.acked(len(users))
    assert sorted(letter.error_code or "" for letter in letters) == sorted(
        str(code) for code in PERMANENT
    )
    assert {(letter.reason, letter.attempts) for letter in letters} == {("twilio_rejected", 1)}
    assert len(h.sandbox.store.twilio_messages) == 0
    assert len(h.sandbox.store.twilio_rejected) == len(PERMANENT)
    for code in PERMANENT:
        after = h.metric(SENDS, operation="message", outcome="rejected", code=str(code))
        assert after == counted[code] + 1


async def test_a_part_refused_midway_dead_letters_the_rest_and_keeps_what_was_sent(
    harness: HarnessFactory,
) -> None:
    paragraph = "A sentence of a long reply. " * 40
    async with harness() as h:
        dead = await h.nc.subscribe("chat.dlq.sender")
        async with h.sender():
            to = h.user(300)
            # A fault that changes nothing lets part 0 through; part 1 meets the next one.
            h.sandbox.store.twilio_faults.append(TwilioFault(to=to))
            h.sandbox.store.twilio_faults.append(TwilioFault(to=to, status=400, code=63016))
            await h.publish(h.outbound(to, "\n\n".join([paragraph] * 3)))
            letter = decode(DeadLetter, (await dead.next_msg(timeout=10)).data)
    assert letter.error_code == "63016"
    assert len(h.sandbox.store.twilio_messages) == 1  # part 0 went out; 1 was refused; 2 never


async def test_retry_after_is_honoured_while_other_users_keep_flowing(
    harness: HarnessFactory,
) -> None:
    async with harness() as h, h.sender():
        slow, other = h.user(400), h.user(401)
        h.sandbox.store.twilio_faults.append(
            TwilioFault(to=slow, status=429, code=20429, retry_after="2")
        )
        await h.publish(h.outbound(slow, "waits for Twilio"))
        [refused] = await h.sandbox.store.twilio_rejected.wait_for(1, timeout=5)
        await h.publish(h.outbound(other, "goes straight through"))
        await h.verdicts.acked(2, timeout=10)
        first, second = h.sandbox.store.twilio_messages.snapshot()
    assert (first.to, second.to) == (other, slow)
    assert (second.received_at - refused.received_at).total_seconds() >= 1.9


async def test_without_retry_after_the_delays_grow(harness: HarnessFactory) -> None:
    async with harness() as h, h.sender():
        to = h.user(500)
        h.sandbox.store.twilio_faults.append(TwilioFault(to=to, status=503, times=2))
        await h.publish(h.outbound(to, "third time lucky"))
        await h.verdicts.acked(timeout=15)
        attempts = [
            *(r.received_at for r in h.sandbox.store.twilio_rejected.snapshot()),
            *(r.received_at for r in h.sandbox.store.twilio_messages.snapshot()),
        ]
    first_gap, second_gap = (
        (later - earlier).total_seconds() for earlier, later in itertools.pairwise(attempts)
    )
    assert 0.9 <= first_gap < 1.9
    assert second_gap >= 1.9


async def test_a_failed_typing_indicator_is_dropped_not_retried(harness: HarnessFactory) -> None:
    async with harness() as h, h.sender():
        h.sandbox.store.twilio_faults.append(TwilioFault(operation="typing", status=503))
        await h.publish(h.outbound(h.user(600), kind="typing", body=""))
        await h.verdicts.acked()
    [typing] = h.sandbox.store.twilio_typing.snapshot()
    assert typing.status_code == 503
    assert b"-NAK" not in h.verdicts.seen


async def test_replies_that_cannot_be_sent_as_they_are_are_dead_lettered(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        dead = await h.nc.subscribe("chat.dlq.sender")
        async with h.sender(twilio_whatsapp_from=None):
            await h.js.publish("chat.outbound.x", b'{"v": 1, "kind": "text"}')
            urls = tuple(f"https://cdn.example.com/{n}.png" for n in range(11))
            await h.publish(h.outbound(h.user(610), kind="media", media_urls=urls))
            await h.publish(h.outbound(h.user(611), **{"from": None}))
            letters = [decode(DeadLetter, (await dead.next_msg(timeout=10)).data) for _ in "abc"]
            await h.verdicts.acked(3)
    no_sender, too_many, malformed = sorted(
        letters, key=lambda letter: (letter.reason, letter.error_code or "")
    )
    assert (no_sender.reason, no_sender.error_code) == ("invalid", "no_sender")
    assert (too_many.reason, too_many.error_code) == ("invalid", "too_many_media")
    assert malformed.reason == "malformed"
    assert (malformed.error_code or "").startswith("invalid OutboundMessage")
    assert len(h.sandbox.store.twilio_messages) == 0


async def test_an_outreach_message_given_up_counts_rejected_whatever_the_reason(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        dead = await h.nc.subscribe("chat.dlq.sender")
        async with h.sender():
            before = h.metric("chatbot_outreach_sends_total", outcome="rejected")
            refused = h.user(300)
            h.sandbox.store.twilio_faults.append(TwilioFault(to=refused, status=400, code=21211))
            await h.publish(h.outbound(refused, "refused by Twilio", outreach=True))
            many = [f"https://example.com/{n}.png" for n in range(11)]
            await h.publish(
                h.outbound(h.user(301), "", kind="media", media_urls=many, outreach=True)
            )
            letters = [decode(DeadLetter, (await dead.next_msg(timeout=10)).data) for _ in "ab"]
            await h.verdicts.acked(2)
    assert sorted(letter.reason for letter in letters) == ["invalid", "twilio_rejected"]
    assert h.metric("chatbot_outreach_sends_total", outcome="rejected") == before + 2
