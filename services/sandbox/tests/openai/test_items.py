"""Adding items to a conversation (``conversations.items.create``), driven by the real `openai`
SDK: what it answers, what the conversation then holds, and what the next response reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import ResponseFunctionToolCall

from chatbot_devstack.embedded import RunningSandbox
from chatbot_sandbox.openai.api import LOCKED_MESSAGE

MODEL = "gpt-test"
LOOKUP: Any = {
    "type": "function",
    "name": "lookup_order",
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
}
SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]
Connect = Callable[..., openai.AsyncOpenAI]


async def test_added_items_are_kept_in_order_and_read_by_the_next_response(
    sandbox: RunningSandbox, client: openai.AsyncOpenAI
) -> None:
    conversation = await client.conversations.create()
    added = await client.conversations.items.create(
        conversation.id,
        items=[
            {"role": "developer", "content": "The user is in a hurry."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "first"},
                    {"type": "input_text", "text": "second"},
                ],
            },
        ],
    )

    assert added.object == "list"
    assert added.has_more is False
    developer, user = added.data
    assert (added.first_id, added.last_id) == (developer.id, user.id)
    assert developer.id.startswith("msg_")
    assert user.model_dump(exclude={"id"}, exclude_none=True) == {
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": "first\nsecond"}],
    }
    listed = await client.conversations.items.list(conversation.id, order="asc")
    assert [item.id for item in listed.data] == [developer.id, user.id]

    reply = await client.responses.create(model=MODEL, input="third", conversation=conversation.id)
    assert reply.output_text == "Echo #1: first\nsecond\nthird"
    assert reply.usage is not None
    assert reply.usage.input_tokens == 9  # what was added, and the input
    # Read once: the next response reads its own input only.
    again = await client.responses.create(model=MODEL, input="fourth", conversation=conversation.id)
    assert again.output_text == "Echo #2: fourth"
    listed = await client.conversations.items.list(conversation.id, order="asc")
    assert [item.type for item in listed.data][:3] == ["message", "message", "message"]
    assert len(listed.data) == 2 + 3 + 3  # added, then each turn's input, reasoning, answer

    record = sandbox.store.openai_requests.snapshot()[1]
    assert (record.endpoint, record.conversation, record.status_code) == (
        "conversations.items.create",
        conversation.id,
        200,
    )


async def test_an_added_assistant_message_is_an_answer(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    first = await client.responses.create(model=MODEL, input="hi", conversation=conversation.id)
    assert first.output_text == "Echo #1: hi"
    # A person took over: the user's message and the agent's answer join the conversation.
    await client.conversations.items.create(
        conversation.id,
        items=[
            {"role": "user", "content": "a person please"},
            {"role": "assistant", "content": "Kim here, how can I help?"},
            {"role": "user", "content": "all good now"},
        ],
    )
    back = await client.responses.create(model=MODEL, input="bye", conversation=conversation.id)
    assert back.output_text == "Echo #3: all good now\nbye"


async def test_an_added_output_answers_its_call(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    asked = await client.responses.create(
        model=MODEL, input="lookup_order 1042", conversation=conversation.id, tools=[LOOKUP]
    )
    (call,) = [item for item in asked.output if isinstance(item, ResponseFunctionToolCall)]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "shipped"}
    added = await client.conversations.items.create(conversation.id, items=[output])

    (item,) = added.data
    assert item.id.startswith("fco_")
    assert item.model_dump(exclude={"id"}, exclude_none=True) == output | {"status": "completed"}
    # The call is answered: the conversation goes on, and the model reads the output.
    answered = await client.responses.create(
        model=MODEL, input=[], conversation=conversation.id, tools=[LOOKUP]
    )
    assert answered.output_text == "Echo #1: lookup_order 1042\nlookup_order: shipped"


async def test_items_for_an_unknown_conversation_are_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client.conversations.items.create(
            "conv_missing", items=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.body == {
        "message": "Conversation with id 'conv_missing' not found.",
        "type": "invalid_request_error",
        "param": "conversation",
        "code": None,
    }


async def test_items_without_items_are_400(http: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer sk-test"}
    created = await http.post("/v1/conversations", json={}, headers=auth)
    path = f"/v1/conversations/{created.json()['id']}/items"
    answer = await http.post(path, json={}, headers=auth)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "message": "Missing required parameter: 'items'.",
            "type": "invalid_request_error",
            "param": "items",
            "code": "missing_required_parameter",
        }
    }
    assert (await http.post(path, json={"items": []})).status_code == 401


async def test_items_wait_for_no_response_in_flight(
    start_sandbox: SandboxFactory, connect: Connect
) -> None:
    async with start_sandbox(openai_latency=0.3) as sandbox, connect(sandbox) as client:
        conversation = await client.conversations.create()
        turn = asyncio.create_task(
            client.responses.create(model=MODEL, input="one", conversation=conversation.id)
        )
        await sandbox.store.openai_requests.wait_until(
            lambda records: any(r.status_code is None for r in records), timeout=5
        )
        with pytest.raises(openai.BadRequestError) as raised:
            await client.conversations.items.create(
                conversation.id, items=[{"role": "user", "content": "two"}]
            )
        assert raised.value.code == "conversation_locked"
        assert isinstance(raised.value.body, dict)
        assert raised.value.body["message"] == LOCKED_MESSAGE
        assert (await turn).output_text == "Echo #1: one"


async def test_at_most_twenty_items_a_request_as_openai_takes(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    items: list[Any] = [{"role": "user", "content": f"m{n}"} for n in range(21)]
    with pytest.raises(openai.BadRequestError) as refused:
        await client.conversations.items.create(conversation.id, items=items)
    assert refused.value.code == "array_above_max_length"
    assert refused.value.param == "items"
    added = await client.conversations.items.create(conversation.id, items=items[:20])
    assert len(added.data) == 20
