"""Replies reach the sandbox's Twilio API as Twilio would receive them: formatted, split, once."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from chatbot_common.contracts import utcnow
from chatbot_sender.deliveries import Deliveries
from chatbot_sender.formatting import to_whatsapp
from chatbot_sender.splitting import split_text

if TYPE_CHECKING:
    from conftest import HarnessFactory

PARAGRAPH = "This sentence is part of a long answer. " * 30  # 1,200 characters


async def test_a_long_markdown_reply_goes_out_formatted_split_and_in_order(
    harness: HarnessFactory,
) -> None:
    body = "\n\n".join(f"## Step {n}\n\n**{PARAGRAPH.strip()}**" for n in range(1, 4))
    expected = split_text(to_whatsapp(body))
    assert len(expected) >= 3
    async with harness() as h, h.sender(public_base_url="https://bot.example.com/"):
        before = h.metric("chatbot_reply_latency_seconds_count")
        parts_before = h.metric("chatbot_reply_parts_sum")
        message = h.outbound(h.user(1), body, received_at=utcnow() - timedelta(seconds=1))
        await h.publish(message)
        await h.verdicts.acked()
        sent = h.sandbox.store.twilio_messages.snapshot()
        kv = Deliveries(await h.deliveries())
        recorded = [await kv.sent_sid(message.idempotency_key, i) for i in range(len(sent))]

    assert [record.body for record in sent] == expected
    assert all("**" not in (record.body or "") for record in sent)
    assert (sent[0].body or "").startswith("*Step 1*")
    assert all((r.to, r.from_) == (h.user(1), h.business) for r in sent)
    # A free-form part's callback names the re-engagement a late 63016 would ask for.
    callback = f"https://bot.example.com/twilio/status?reengage={message.idempotency_key}.reengage"
    assert {r.status_callback for r in sent} == {callback}
    assert recorded == [record.sid for record in sent]
    assert h.metric("chatbot_reply_latency_seconds_count") == before + 1
    assert h.metric("chatbot_reply_parts_sum") == parts_before + len(expected)


async def test_a_redelivered_reply_sends_only_the_parts_not_yet_sent(
    harness: HarnessFactory,
) -> None:
    body = "\n\n".join([PARAGRAPH] * 3)
    expected = split_text(to_whatsapp(body))
    async with harness() as h, h.sender():
        message = h.outbound(h.user(2), body)
        # As if a crashed replica had sent part 0 and recorded it before dying.
        await Deliveries(await h.deliveries()).record(message.idempotency_key, 0, "SM" + "0" * 32)
        await h.publish(message)
        await h.verdicts.acked()
        sent = h.sandbox.store.twilio_messages.snapshot()
    assert [record.body for record in sent] == expected[1:]


async def test_a_messaging_service_replaces_the_from_number(harness: HarnessFactory) -> None:
    service = "MG" + "ab" * 16
    async with harness() as h, h.sender(twilio_messaging_service_sid=service):
        await h.publish(h.outbound(h.user(3), "hi"))
        await h.verdicts.acked()
        [record] = h.sandbox.store.twilio_messages.snapshot()
    assert (record.messaging_service_sid, record.from_) == (service, None)
    assert record.status_callback is None  # no PUBLIC_BASE_URL, no callback


@pytest.mark.parametrize("media", [True, False])
async def test_media_urls_go_out_as_media_or_as_links(harness: HarnessFactory, media: bool) -> None:
    urls = ("https://cdn.example.com/a.png", "https://cdn.example.com/b.pdf")
    async with harness() as h, h.sender(send_media=media):
        await h.publish(h.outbound(h.user(4), "Here you are:", kind="media", media_urls=urls))
        await h.verdicts.acked()
        sent = h.sandbox.store.twilio_messages.snapshot()
    if media:
        assert [(r.body, r.media_urls) for r in sent] == [
            ("Here you are:", []),
            (None, [urls[0]]),
            (None, [urls[1]]),
        ]
    else:
        assert [(r.body, r.media_urls) for r in sent] == [
            (f"Here you are:\n\n{urls[0]}\n{urls[1]}", [])
        ]


async def test_typing_indicator_is_sent_for_the_inbound_message(harness: HarnessFactory) -> None:
    async with harness() as h, h.sender():
        inbound = h.inbound_sid()
        await h.publish(h.outbound(h.user(5), kind="typing", body="", in_reply_to=(inbound,)))
        await h.verdicts.acked()
        [typing] = h.sandbox.store.twilio_typing.snapshot()
    assert (typing.channel, typing.message_id, typing.status_code) == ("whatsapp", inbound, 200)
    assert len(h.sandbox.store.twilio_messages) == 0


async def test_typing_indicator_can_be_switched_off(harness: HarnessFactory) -> None:
    async with harness() as h, h.sender(send_typing_indicator=False):
        skipped = h.metric(
            "chatbot_outbound_sends_total", operation="typing", outcome="skipped", code="disabled"
        )
        await h.publish(h.outbound(h.user(6), kind="typing", body=""))
        await h.verdicts.acked()
    assert len(h.sandbox.store.twilio_typing) == 0
    assert (
        h.metric(
            "chatbot_outbound_sends_total", operation="typing", outcome="skipped", code="disabled"
        )
        == skipped + 1
    )
