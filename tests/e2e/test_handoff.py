"""A person takes a user over and hands them back, end to end: the user's webhooks to ingress,
the sandbox's Chatwoot as the desk, its signed webhooks back to ingress, and the person's
replies out through the sender to the sandbox's Twilio."""

from __future__ import annotations

import pytest

from chatbot_devstack import StackDriver, inbound_form, poll

pytestmark = pytest.mark.e2e

HANDED = "I'm passing you to a person on our team. They will answer here as soon as they can."
RETURNED = "You are back with the assistant. Ask me anything, or write 'person' to reach our team."


async def test_a_person_answers_the_user_and_hands_them_back_to_the_bot(
    driver: StackDriver,
) -> None:
    twilio, desk = driver.twilio, driver.desk
    await driver.deliver(inbound_form("hello"))
    await twilio.sent_messages(at_least=1)
    await driver.deliver(inbound_form("person"))
    await twilio.sent_messages(at_least=2)
    await driver.deliver(inbound_form("my parcel is late"))

    async def forwarded() -> bool:
        conversations = await desk.conversations()
        return bool(conversations) and any(
            m["content"] == "my parcel is late" for m in conversations[0]["messages"]
        )

    await poll(forwarded, every=0.05, timeout=15)
    (conversation,) = await desk.conversations()
    await desk.reply(conversation["id"], "It left our warehouse today.", agent="Ann")
    await twilio.sent_messages(at_least=3)
    await desk.set_status(conversation["id"], "resolved")
    await twilio.sent_messages(at_least=4)
    await driver.deliver(inbound_form("thanks!"))

    messages = await twilio.sent_messages(at_least=5)
    assert [m["body"] for m in messages] == [
        "Echo #1: hello",
        HANDED,
        "It left our warehouse today.",
        RETURNED,
        "Echo #5: thanks!",  # the handoff's exchange is in the model's context
    ]
    assert await driver.metric("ingress", "chatbot_desk_webhooks_total", outcome="published") == 2
    assert await driver.metric("conversation", "chatbot_handoff_messages_total") == 2


async def test_a_forged_desk_webhook_is_refused(driver: StackDriver) -> None:
    answer = await driver.http.post(
        f"{driver.url('ingress')}/desk/chatwoot",
        json={"event": "message_created"},
        headers={"X-Chatwoot-Signature": "sha256=00", "X-Chatwoot-Timestamp": "1"},
    )
    assert answer.status_code == 403
    assert await driver.metric("ingress", "chatbot_desk_webhooks_total", outcome="published") == 0
