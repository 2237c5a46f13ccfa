"""WhatsApp's 24-hour window end to end: a person's reply that finds the user's window closed
fails at Twilio with 63016 (a ``failed`` status callback, as WhatsApp reports it), and the user
gets the re-engagement template instead (docs/outreach.md)."""

from __future__ import annotations

import pytest

from chatbot_devstack import REENGAGE_TEMPLATE_SID, StackDriver, inbound_form

pytestmark = pytest.mark.e2e

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
