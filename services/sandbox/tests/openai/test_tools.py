"""The fake model's function calls, and the checks the real APIs make of a tool loop, driven by
the real `openai` SDK (typed methods: the SDK parses every item)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseFunctionToolCall

MODEL = "gpt-test"
LOOKUP: Any = {
    "type": "function",
    "name": "lookup_order",
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
}
CHAT_LOOKUP: Any = {
    "type": "function",
    "function": {"name": "lookup_order", "parameters": LOOKUP["parameters"]},
}


async def test_a_named_function_is_called_then_its_output_answered(
    client: openai.AsyncOpenAI,
) -> None:
    conversation = await client.conversations.create()
    asked = await client.responses.create(
        model=MODEL,
        input="where is lookup_order 1042",
        conversation=conversation.id,
        tools=[LOOKUP],
    )
    (call,) = [item for item in asked.output if isinstance(item, ResponseFunctionToolCall)]
    assert (call.name, json.loads(call.arguments)) == ("lookup_order", {"order": "1042"})
    assert asked.output_text == ""
    answered = await client.responses.create(
        model=MODEL,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "shipped"}],
        conversation=conversation.id,
        tools=[LOOKUP],
    )
    assert answered.output_text == "Echo #1: where is lookup_order 1042\nlookup_order: shipped"
    items = await client.conversations.items.list(conversation.id, order="asc")
    assert [item.type for item in items.data] == [
        "message", "reasoning", "function_call", "function_call_output", "reasoning", "message",
    ]  # fmt: skip


async def test_a_conversation_with_an_unanswered_call_is_refused(
    client: openai.AsyncOpenAI,
) -> None:
    conversation = await client.conversations.create()
    asked = await client.responses.create(
        model=MODEL, input="lookup_order 7", conversation=conversation.id, tools=[LOOKUP]
    )
    (call,) = [item for item in asked.output if isinstance(item, ResponseFunctionToolCall)]
    with pytest.raises(openai.BadRequestError) as refused:
        await client.responses.create(model=MODEL, input="hello?", conversation=conversation.id)
    assert refused.value.body == {
        "message": f"No tool output found for function call {call.call_id}.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }


async def test_tool_choice_none_answers_without_calling(client: openai.AsyncOpenAI) -> None:
    answered = await client.responses.create(
        model=MODEL, input="lookup_order 7", tools=[LOOKUP], tool_choice="none"
    )
    assert answered.output_text == "Echo #1: lookup_order 7"


async def test_chat_completions_call_functions_and_read_their_outputs(
    client: openai.AsyncOpenAI,
) -> None:
    asked = [{"role": "user", "content": "lookup_order 1042"}]
    first = await client.chat.completions.create(model=MODEL, messages=asked, tools=[CHAT_LOOKUP])
    (call,) = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"order": "1042"}  # type: ignore[union-attr]
    calling = first.choices[0].message.model_dump(exclude_none=True)
    answer = {"role": "tool", "tool_call_id": call.id, "content": "shipped"}
    second = await client.chat.completions.create(
        model=MODEL, messages=[*asked, calling, answer], tools=[CHAT_LOOKUP]
    )
    assert second.choices[0].message.content == (
        "Echo #1: lookup_order 1042\nlookup_order: shipped"
    )
