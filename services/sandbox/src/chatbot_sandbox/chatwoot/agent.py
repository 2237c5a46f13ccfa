"""The sandbox's side of the fake Chatwoot: an agent's replies and status changes (for tests
and the chat page's agent pane), every conversation, faults, and the attachments' files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Response

from chatbot_sandbox.chatwoot import views
from chatbot_sandbox.chatwoot.api import add_message, set_status
from chatbot_sandbox.chatwoot.records import (
    Agent,
    ChatwootAccount,
    ChatwootError,
    ChatwootFault,
    Conversation,
    Message,
)
from chatbot_sandbox.deps import ChatwootWebhooks, Store

__all__ = ["router"]

router = APIRouter(tags=["sandbox"])

PREFIX = "/_sandbox/chatwoot"


def _conversation(account: ChatwootAccount, display_id: int) -> Conversation:
    try:
        return account.find(account.conversations, display_id)
    except ChatwootError:
        raise HTTPException(404, "no conversation with this display id") from None


@router.post(PREFIX + "/conversations/{display_id}/status")
async def change_status(
    display_id: int,
    status: Annotated[Literal["pending", "resolved"], Body(embed=True)],
    store: Store,
    webhooks: ChatwootWebhooks,
) -> dict[str, Any]:
    """An agent sets the status; ``conversation_status_changed`` follows when it changed."""
    conversation = _conversation(store.chatwoot, display_id)
    set_status(store, webhooks, conversation, status)
    return views.conversation_json(conversation)


@router.post(PREFIX + "/conversations/{display_id}/reply")
async def reply(
    display_id: int,
    content: Annotated[str, Body(min_length=1, description="What the agent writes.")],
    store: Store,
    webhooks: ChatwootWebhooks,
    agent_name: Annotated[str, Body(min_length=1, description="The agent's name.")] = "Agent Smith",
) -> dict[str, Any]:
    """An agent's public reply, for the user, as user 1; ``message_created`` follows."""
    conversation = _conversation(store.chatwoot, display_id)
    agent, message_id = Agent(1, agent_name), store.chatwoot.next_id("message")
    message = Message(message_id, conversation.id, "outgoing", content, False, agent)
    add_message(store, webhooks, message)
    return views.message_json(message)


@router.get(PREFIX + "/conversations")
async def conversations(store: Store) -> list[dict[str, Any]]:
    """Every conversation, with all its messages, oldest first."""
    return [
        views.conversation_json(c) | {"messages": [views.message_json(m) for m in c.messages]}
        for c in store.chatwoot.conversations.values()
    ]


@router.post(PREFIX + "/faults", status_code=201)
async def add_fault(fault: ChatwootFault, store: Store) -> dict[str, int]:
    """Queue a fault: the next matching API requests fail as it says."""
    store.chatwoot_faults.append(fault)
    return {"faults": len(store.chatwoot_faults)}


@router.get("/rails/active_storage/blobs/redirect/{token}/{filename}")
async def attachment_file(token: str, filename: str, store: Store) -> Response:
    """An attachment's file (its ``data_url``)."""
    attachment = store.chatwoot.attachments.get(token)
    if attachment is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    return Response(attachment.data, media_type=attachment.content_type or None)
