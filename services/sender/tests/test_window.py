"""WhatsApp's 24-hour window at the sender: a free-form message that finds it closed (known
before sending, or Twilio's 63016) becomes the re-engagement template, once per window; without
one configured it is dead-lettered as outside_window."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from chatbot_common.contracts import DeadLetter, OutboundMessage, decode, utcnow
from chatbot_devstack import ORDER_READY_TEMPLATE_SID, REENGAGE_TEMPLATE_SID
from chatbot_sandbox.twilio.records import TwilioFault
from chatbot_sender.config import SenderSettings

if TYPE_CHECKING:
    from conftest import HarnessFactory

CLOSED = "chatbot_window_closed_total"
FALLBACKS = "chatbot_template_fallbacks_total"
SENDS = "chatbot_outbound_sends_total"
REENGAGE_TEXT = "We have an answer for you. Reply to this message to continue our conversation."


async def test_a_reply_after_the_window_is_dead_lettered_unsent_without_a_template(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        dead = await h.nc.subscribe("chat.dlq.sender")
        async with h.sender():
            before = h.metric(CLOSED, cause="window_closed")
            late = h.outbound(h.user(1), "late", window_opened_at=utcnow() - timedelta(hours=25))
            await h.publish(late)
            letter = decode(DeadLetter, (await dead.next_msg(timeout=10)).data)
            await h.verdicts.acked()
    assert (letter.reason, letter.error_code) == ("outside_window", "window_closed")
    assert decode(OutboundMessage, letter.original_payload.encode()).body == "late"
    assert len(h.sandbox.store.twilio_messages) == 0
    assert h.metric(CLOSED, cause="window_closed") == before + 1


async def test_a_reply_within_the_window_goes_out(harness: HarnessFactory) -> None:
    async with harness() as h, h.sender():
        fresh = h.outbound(h.user(2), "in time", window_opened_at=utcnow() - timedelta(hours=23))
        await h.publish(fresh)
        await h.verdicts.acked()
    assert [record.body for record in h.sandbox.store.twilio_messages.snapshot()] == ["in time"]


async def test_twilio_refusing_with_63016_is_dead_lettered_as_outside_window(
    harness: HarnessFactory,
) -> None:
    async with harness() as h:
        dead = await h.nc.subscribe("chat.dlq.sender")
        async with h.sender():
            before = h.metric(CLOSED, cause="63016")
            to = h.user(3)
            h.sandbox.store.twilio_faults.append(TwilioFault(to=to, status=400, code=63016))
            await h.publish(h.outbound(to, "refused"))
            letter = decode(DeadLetter, (await dead.next_msg(timeout=10)).data)
            await h.verdicts.acked()
    assert (letter.reason, letter.error_code, letter.attempts) == ("outside_window", "63016", 1)
    assert h.metric(CLOSED, cause="63016") == before + 1
    assert h.metric(FALLBACKS, outcome="dead_lettered") >= 1


async def test_a_template_goes_out_with_its_content_sid_and_variables(
    harness: HarnessFactory,
) -> None:
    async with harness() as h, h.sender():
        before = h.metric(SENDS, operation="template", outcome="accepted", code="")
        template = h.outbound(
            h.user(4),
            "",
            kind="template",
            content_sid=ORDER_READY_TEMPLATE_SID,
            content_variables={"1": "Ana"},
            outreach=True,
            window_opened_at=utcnow() - timedelta(days=3),  # templates need no window
        )
        await h.publish(template)
        await h.verdicts.acked()
    [sent] = h.sandbox.store.twilio_messages.snapshot()
    assert (sent.content_sid, sent.content_variables) == (ORDER_READY_TEMPLATE_SID, '{"1": "Ana"}')
    assert sent.body == "Hello Ana, your order is ready."
    assert h.metric(SENDS, operation="template", outcome="accepted", code="") == before + 1


async def test_late_replies_become_one_reengagement_template_per_closed_window(
    harness: HarnessFactory,
) -> None:
    async with harness() as h, h.sender(reengage_content_sid=REENGAGE_TEMPLATE_SID):
        sent_before = h.metric(FALLBACKS, outcome="sent")
        to, opened = h.user(5), utcnow() - timedelta(hours=30)
        key = "k" + uuid.uuid4().hex[:12]
        h.sandbox.store.twilio_faults.append(TwilioFault(to=to, status=400, code=63016))
        refused = h.outbound(to, "refused", idempotency_key=f"{key}.1", window_opened_at=None)
        await h.publish(refused)  # Twilio says 63016: its window is unknown here
        for seq in (2, 3):
            late = h.outbound(to, "late", idempotency_key=f"{key}.{seq}", window_opened_at=opened)
            await h.publish(late)
        # Each late reply is finished, and each re-engagement request (the second late reply
        # asks for the first one's again: JetStream drops it by its Nats-Msg-Id): 3 + 2.
        await h.verdicts.acked(5)
    sent = h.sandbox.store.twilio_messages.snapshot()
    assert [(r.content_sid, r.body) for r in sent] == [
        (REENGAGE_TEMPLATE_SID, REENGAGE_TEXT),  # for the refused one
        (REENGAGE_TEMPLATE_SID, REENGAGE_TEXT),  # once for the closed window
    ]
    assert all(r.to == to for r in sent)
    assert h.metric(FALLBACKS, outcome="sent") == sent_before + 2


async def test_a_message_the_business_starts_keeps_its_place_among_the_users_replies(
    harness: HarnessFactory,
) -> None:
    async with harness() as h, h.sender():
        user = h.user(6)
        # The reply before it is retried: the template waits for it, and the reply after
        # waits for the template, as replies wait for each other.
        h.sandbox.store.twilio_faults.append(
            TwilioFault(status=429, code=20429, retry_after="1", to=user)
        )
        await h.publish(h.outbound(user, "a reply", idempotency_key="u6.1-1"))
        template = {"content_sid": ORDER_READY_TEMPLATE_SID, "content_variables": {"1": "Ana"}}
        outreach = h.outbound(
            user, "", kind="template", idempotency_key="u6.outreach.1", outreach=True, **template
        )
        await h.publish(outreach)
        await h.publish(h.outbound(user, "the next reply", idempotency_key="u6.2-2"))
        await h.verdicts.acked(3, timeout=15)
    assert [r.body for r in h.sandbox.store.twilio_messages.snapshot()] == [
        "a reply",
        "Hello Ana, your order is ready.",
        "the next reply",
    ]


def test_an_empty_reengage_content_sid_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REENGAGE_CONTENT_SID", "")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    assert SenderSettings(user_key_secret="s" * 32).reengage_content_sid is None
