"""STOP and START: a user opts out of messages the business starts, and back in; each is a
turn of its own, confirmed once, and the user's own messages are still answered."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from chatbot_conversation.config import ConversationSettings

OUT = ConversationSettings.model_fields["opt_out_message"].default
IN = ConversationSettings.model_fields["opt_in_message"].default


def changes(change: str) -> float:
    return REGISTRY.get_sample_value("chatbot_opt_changes_total", {"change": change}) or 0.0


async def test_stop_then_start_each_confirmed_and_the_user_still_answered(
    chat: Any, start_service: Any
) -> None:
    out, back = changes("out"), changes("in")
    async with start_service():
        first = await chat.send("hello")
        await chat.send("  Stop ")  # a word of its own, even in a burst
        await chat.send("are you there?")
        stopped = await chat.answered(first + 2)
        restarted = await chat.answered(await chat.send("START"))

    assert [m.body for m in chat.texts()] == [
        "Echo #1: hello",
        OUT,
        "Echo #2: are you there?",  # an opted-out user who writes is answered
        IN,
    ]
    assert stopped.opted_out is True
    assert restarted.opted_out is False
    assert restarted.last_inbound_at is not None
    assert (changes("out"), changes("in")) == (out + 1, back + 1)


async def test_a_message_the_business_sent_is_in_the_context_when_the_user_answers(
    chat: Any, start_service: Any
) -> None:
    async with start_service():
        await chat.answered(await chat.send("hello"))
        sent = {"desk": "operator", "event": "outreach", "agent": "ops"}
        told = await chat.desk_event("outreach:1", **sent, body="Your order is ready.")
        assert await chat.desk_event("outreach:1", **sent, body="Your order is ready.") == 0
        await chat.answered(told)
        await chat.answered(await chat.send("great, thanks"))

    # The console sent it: the conversation service says nothing, it only keeps it.
    assert [m.body for m in chat.texts()] == ["Echo #1: hello", "Echo #3: great, thanks"]
    (conversation,) = chat.sandbox.store.conversations.values()
    said = [
        " ".join(part.get("text", "") for part in item["content"])
        for item in conversation.items
        if item.get("type") == "message" and item["role"] == "assistant"
    ]
    assert said[1] == "[From our team, a message we sent first] Your order is ready."
