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
