"""Outreach end to end (docs/outreach.md): a person's reply that finds the user's window closed
fails at Twilio with 63016 (a ``failed`` status callback, as WhatsApp reports it) and the user
gets the re-engagement template instead; the console's POST /api/messages sends a template or a
text in the user's order, once per Idempotency-Key, and never to a user who wrote STOP."""

from __future__ import annotations

import httpx
import pytest

from chatbot_devstack import (
    ORDER_READY_TEMPLATE_SID,
    REENGAGE_TEMPLATE_SID,
    USER,
    StackDriver,
    inbound_form,
    poll,
)

pytestmark = pytest.mark.e2e

STOPPED = (
    "You will get no more messages from us unless you write first. Write START to change your mind."
)
STARTED = "Welcome back: we may write to you again. Write STOP to opt out."
HANDED = "I'm passing you to a person on our team. They will answer here as soon as they can."


async def test_a_reply_the_closed_window_refuses_becomes_the_reengagement_template(
    driver: StackDriver,
) -> None:
    twilio, desk = driver.twilio, driver.desk
    await driver.deliver(inbound_form("person"))
    await twilio.sent_messages(at_least=1)
    (conversation,) = await desk.conversations()
    # The next morning: the user's window has closed before the person answers.
    await twilio.close_window()
    await desk.reply(conversation["id"], "Your refund is on its way.", agent="Ann")

    messages = await twilio.sent_messages(at_least=3)
    assert [(m["body"], m["content_sid"]) for m in messages] == [
        (HANDED, None),
        ("Your refund is on its way.", None),  # accepted, then failed with 63016
        (
            "We have an answer for you. Reply to this message to continue our conversation.",
            REENGAGE_TEMPLATE_SID,
        ),
    ]
    assert await driver.metric("ingress", "chatbot_window_closed_total", cause="63016_status") == 1
    assert await driver.metric("sender", "chatbot_template_fallbacks_total", outcome="sent") == 1


async def test_a_message_the_business_starts_goes_out_in_order_and_honours_stop_and_start(
    driver: StackDriver,
) -> None:
    twilio = driver.twilio
    console = driver.url("console")
    token = driver.stack.env["CONSOLE_TOKEN"]

    async def outreach(key: str, body: dict[str, object]) -> httpx.Response:
        return await driver.http.post(
            f"{console}/api/messages",
            json={"to": USER, **body},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )

    order_ready = {"template": {"content_sid": ORDER_READY_TEMPLATE_SID, "variables": {"1": "Ana"}}}
    # Each step waits for the one before to reach Twilio: the console reads the user's state.
    await driver.deliver(inbound_form("hello"))
    await twilio.sent_messages(at_least=1)
    first = await outreach("campaign-1:ana", order_ready)
    again = await outreach("campaign-1:ana", order_ready)  # a retried call sends once
    await twilio.sent_messages(at_least=2)
    await driver.deliver(inbound_form("STOP"))
    await twilio.sent_messages(at_least=3)
    refused = await outreach("campaign-2:ana", order_ready)
    await driver.deliver(inbound_form("START"))
    await twilio.sent_messages(at_least=4)
    within = await outreach("note-1:ana", {"body": "Your parcel is on its way."})

    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert refused.status_code == 409
    assert within.status_code == 202
    messages = await twilio.sent_messages(at_least=5)
    assert [(m["body"], m["content_sid"]) for m in messages] == [
        ("Echo #1: hello", None),
        ("Hello Ana, your order is ready.", ORDER_READY_TEMPLATE_SID),
        (STOPPED, None),
        (STARTED, None),
        ("Your parcel is on its way.", None),
    ]
    # The model has what the business said, as the user read it.
    headers = {"Authorization": f"Bearer {token}"}
    found = await driver.http.get(f"{console}/api/users", params={"phone": USER}, headers=headers)
    key = found.json()["users"][0]["user_key"]
    transcript = await driver.http.get(f"{console}/api/users/{key}/transcript", headers=headers)
    said = [line["text"] for line in transcript.json()["lines"] if line["role"] == "assistant"]
    assert "[From our team, a message we sent first] Hello Ana, your order is ready." in said
    requests = "chatbot_outreach_requests_total"
    assert await driver.metric("console", requests, outcome="replayed") == 1

    async def both_counted() -> bool:  # counted once finished, just after Twilio took it
        return await driver.metric("sender", "chatbot_outreach_sends_total", outcome="sent") == 2

    await poll(both_counted, every=0.05, timeout=10)
