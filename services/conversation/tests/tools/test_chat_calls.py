"""What the chat backend reads of a completion's tool calls, from servers that bend the API."""

from __future__ import annotations

import json

from chatbot_conversation.chat_backend import _Completion


def test_arguments_sent_as_an_object_and_a_missing_call_id_are_taken() -> None:
    message = {
        "content": None,
        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
    }
    completion = _Completion.model_validate(
        {"id": "c", "model": "m", "choices": [{"message": message}]}
    )
    (call,) = completion.calls
    assert (call.name, json.loads(call.arguments)) == ("f", {"a": 1})
    assert call.call_id.startswith("call_")
