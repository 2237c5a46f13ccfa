"""Deleting a conversation (``conversations.delete``), driven by the real `openai` SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from chatbot_devstack.embedded import RunningSandbox

MODEL = "gpt-test"


async def test_a_deleted_conversation_and_its_items_are_gone(
    sandbox: RunningSandbox, client: openai.AsyncOpenAI
) -> None:
    conversation = await client.conversations.create()
    await client.responses.create(model=MODEL, input="hi", conversation=conversation.id)

    deleted = await client.conversations.delete(conversation.id)

    assert deleted.model_dump() == {
        "id": conversation.id,
        "object": "conversation.deleted",
        "deleted": True,
    }
    assert conversation.id not in sandbox.store.conversations
    with pytest.raises(openai.NotFoundError):
        await client.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError) as raised:
        await client.conversations.delete(conversation.id)
    assert raised.value.body == {
        "message": f"Conversation with id '{conversation.id}' not found.",
        "type": "invalid_request_error",
        "param": "conversation",
        "code": None,
    }
    records = sandbox.store.openai_requests.snapshot()[-2:]
    assert [(r.endpoint, r.conversation, r.status_code) for r in records] == [
        ("conversations.delete", conversation.id, 200),
        ("conversations.delete", conversation.id, 404),
    ]


async def test_deleting_needs_the_key_and_takes_conversations_faults(
    sandbox: RunningSandbox, http: httpx.AsyncClient, client: openai.AsyncOpenAI
) -> None:
    conversation = await client.conversations.create()
    path = f"/v1/conversations/{conversation.id}"
    assert (await http.delete(path)).status_code == 401
    fault = {"kind": "server_error", "endpoint": "conversations"}
    assert (await http.post("/_sandbox/openai/faults", json=fault)).status_code == 200
    with pytest.raises(openai.InternalServerError):
        await client.conversations.delete(conversation.id)
    assert conversation.id in sandbox.store.conversations  # a refusal deletes nothing
    assert (await client.conversations.delete(conversation.id)).deleted is True
