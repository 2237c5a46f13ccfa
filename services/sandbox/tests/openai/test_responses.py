"""The Responses and Conversations API of the fake OpenAI, driven by the real `openai` SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import httpx
import openai
import pytest
from openai.types.responses import ResponseReasoningItem

from chatbot_devstack.embedded import RunningSandbox
from chatbot_sandbox.openai.api import LOCKED_MESSAGE
from chatbot_sandbox.openai.records import OpenAIRequestRecord

MODEL = "gpt-test"
SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]
Connect = Callable[..., openai.AsyncOpenAI]


async def test_conversation_turns_are_numbered_and_recorded(
    sandbox: RunningSandbox, client: openai.AsyncOpenAI
) -> None:
    conversation = await client.conversations.create(metadata={"purpose": "test"})
    first = await client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input="hello there",
        conversation=conversation.id,
        safety_identifier="uk_abc123",
    )
    second = await client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "second message"},
                    {"type": "input_text", "text": "and more"},
                ],
            },
            {"role": "user", "content": "third"},
        ],
        conversation=conversation.id,
        safety_identifier="uk_abc123",
    )

    assert conversation.id.startswith("conv_")
    assert conversation.object == "conversation"
    assert conversation.metadata == {"purpose": "test"}
    assert first.output_text == "Echo #1: hello there"
    assert second.output_text == "Echo #2: second message\nand more\nthird"
    assert first.id.startswith("resp_")
    assert first.id != second.id
    assert first.status == "completed"
    assert first.model == MODEL
    assert first.instructions == "Be brief."
    assert first.conversation is not None
    assert first.conversation.id == conversation.id
    assert first.usage is not None
    assert (first.usage.input_tokens, first.usage.output_tokens) == (4, 4)
    assert first.usage.total_tokens == 8

    requests = sandbox.store.openai_requests.snapshot()
    assert [r.endpoint for r in requests] == [
        "conversations.create",
        "responses.create",
        "responses.create",
    ]
    turn = requests[1]
    assert turn.instructions == "Be brief."
    assert turn.safety_identifier == "uk_abc123"
    assert turn.conversation == conversation.id
    assert turn.input == "hello there"
    assert (turn.model, turn.status_code) == (MODEL, 200)
    assert requests[2].conversation == conversation.id


async def test_without_conversation_every_response_is_number_one(
    client: openai.AsyncOpenAI,
) -> None:
    replies = [
        (await client.responses.create(model=MODEL, input=text)).output_text for text in ("a", "b")
    ]
    assert replies == ["Echo #1: a", "Echo #1: b"]


def _turn_in_flight(records: Sequence[OpenAIRequestRecord]) -> bool:
    return any(r.endpoint == "responses.create" and r.status_code is None for r in records)


async def test_concurrent_response_on_one_conversation_is_locked(
    start_sandbox: SandboxFactory, connect: Connect
) -> None:
    async with start_sandbox(openai_latency=0.3) as sandbox, connect(sandbox) as client:
        conversation = await client.conversations.create()
        first = asyncio.create_task(
            client.responses.create(model=MODEL, input="one", conversation=conversation.id)
        )
        await sandbox.store.openai_requests.wait_until(_turn_in_flight, timeout=5)

        with pytest.raises(openai.BadRequestError) as raised:
            await client.responses.create(model=MODEL, input="two", conversation=conversation.id)
        assert raised.value.status_code == 400
        assert raised.value.body == {
            "message": LOCKED_MESSAGE,
            "type": "invalid_request_error",
            "param": None,
            "code": "conversation_locked",
        }

        assert (await first).output_text == "Echo #1: one"
        # Once the first one is done the conversation takes the next turn.
        again = await client.responses.create(
            model=MODEL, input="two", conversation=conversation.id
        )
        assert again.output_text == "Echo #2: two"

    statuses = [r.status_code for r in sandbox.store.openai_requests.snapshot()]
    assert statuses == [200, 200, 400, 200]  # kept in admission order


async def test_unknown_conversation_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        await client.responses.create(model=MODEL, input="hi", conversation="conv_missing")
    assert raised.value.status_code == 404
    assert "conv_missing" in raised.value.message


async def test_missing_bearer_is_401(http: httpx.AsyncClient) -> None:
    answer = await http.post("/v1/responses", json={"model": MODEL, "input": "hi"})
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "invalid_api_key",
    )


def _image_turn(**detail: object) -> list[dict[str, object]]:
    """One user message with text and an image part."""
    image = {"type": "input_image", "image_url": "https://example.com/a.png", **detail}
    return [{"role": "user", "content": [{"type": "input_text", "text": "what?"}, image]}]


async def test_a_response_reasons_before_it_answers(client: openai.AsyncOpenAI) -> None:
    conversation = await client.conversations.create()
    reply = await client.responses.create(
        model=MODEL, input=_image_turn(detail="auto"), conversation=conversation.id
    )
    reasoning, message = reply.output
    assert (reasoning.type, message.type) == ("reasoning", "message")
    assert isinstance(reasoning, ResponseReasoningItem)
    assert reasoning.id.startswith("rs_")
    assert reasoning.summary == []
    assert reply.output_text == "Echo #1: what?\n[image]"
    assert reply.usage is not None
    reasoning_tokens = reply.usage.output_tokens_details.reasoning_tokens
    assert reply.usage.output_tokens == reasoning_tokens + 4  # "Echo #1: what? [image]"
