"""The fake Chatwoot's application API, as 4.15.1 answers an admin's access token: contacts,
their contact inboxes, conversations, their status and messages. Every request is recorded;
queued faults hit it before the token is checked."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from chatbot_sandbox.chatwoot import views
from chatbot_sandbox.chatwoot.records import (
    Agent,
    Attachment,
    ChatwootAccount,
    ChatwootError,
    ChatwootRequestRecord,
    ContactInbox,
    Conversation,
    Message,
    json_object,
    not_found,
)
from chatbot_sandbox.chatwoot.webhooks import WebhookSender
from chatbot_sandbox.deps import ChatwootWebhooks, Store
from chatbot_sandbox.process import SandboxSettings, SandboxStore

__all__ = ["AGENT_BOT", "API_USER", "add_message", "router", "set_status"]

API_USER = Agent("user", 2, "Chatbot Integration", "integration@sandbox.example")
"""Whom the access token belongs to: an administrator, so never auto-assigned."""
AGENT_BOT = Agent("agent_bot", 1, "Sandbox Bot")
"""The account's agent bot: an outgoing message's sender with ``sender_type: AgentBot``."""
MAX_ATTACHMENTS = 15


class _ChatwootRoute(APIRoute):
    """Records the request, applies a fault, checks the token and the account, and answers a
    :class:`ChatwootError` as Chatwoot does."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            store: SandboxStore = request.app.state.store
            record = ChatwootRequestRecord(request.method, request.url.path)
            store.chatwoot_requests.append(record)
            try:
                fault = store.take_chatwoot_fault(request.url.path)
                if fault is not None:
                    await asyncio.sleep(fault.delay)
                    if fault.status == 429:  # rack-attack's throttled answer
                        raise ChatwootError(429, "Retry later\n")
                    if fault.status is not None:
                        phrase = HTTPStatus(fault.status).phrase
                        raise ChatwootError(fault.status, {"status": fault.status, "error": phrase})
                _authorize(request, request.app.state.settings)
                answer = await handle(request)
            except ChatwootError as error:
                answer = error.response()
            record.status_code = answer.status_code
            store.chatwoot_requests.notify()
            return answer

        return route


def _authorize(request: Request, settings: SandboxSettings) -> None:
    token = request.headers.get("api_access_token") or request.headers.get("api-access-token")
    expected = settings.chatwoot_api_token.get_secret_value()
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ChatwootError(401, {"error": "Invalid Access Token"})
    if request.path_params.get("account_id") != str(settings.chatwoot_account_id):
        raise ChatwootError(401, {"error": "You are not authorized to access this account"})


router = APIRouter(
    prefix="/api/v1/accounts/{account_id}", tags=["chatwoot"], route_class=_ChatwootRoute
)


async def _params(request: Request) -> dict[str, Any]:
    """Rails' params: the query's, and a JSON object body's."""
    params: dict[str, Any] = dict(request.query_params)
    if body := await request.body():
        try:
            data = json.loads(body)
        except ValueError:
            raise ChatwootError(400, {"status": 400, "error": "Bad Request"}) from None
        params.update(data if isinstance(data, dict) else {})
    return params


def _inbox(account: ChatwootAccount, inbox_id: object) -> None:
    if str(inbox_id) != str(account.inbox_id):
        raise not_found()


@router.post("/contact_inboxes/filter")
async def filter_contact_inboxes(request: Request, store: Store) -> Response:
    """The contact with this source id in the inbox; 404 with an empty body when none."""
    params, account = await _params(request), store.chatwoot
    _inbox(account, params.get("inbox_id"))
    held = account.contact_inboxes.get(str(params.get("source_id")))
    if held is None:
        raise ChatwootError(404)
    return JSONResponse(views.contact_json(held.contact, account))


@router.post("/contacts")
async def create_contact(request: Request, store: Store) -> Response:
    """A new contact, and its contact inbox when an ``inbox_id`` is given."""
    params, account = await _params(request), store.chatwoot
    if params.get("inbox_id"):
        _inbox(account, params["inbox_id"])
        if str(params.get("source_id")) in account.contact_inboxes:  # the transaction rolls back
            raise ChatwootError(422, {"error": "source_id should be unique"})
    contact = account.add_contact(params)
    held = (
        account.contact_inbox(contact, params.get("source_id")) if params.get("inbox_id") else None
    )
    return JSONResponse(
        {
            "payload": {
                "contact": views.contact_json(contact, account),
                "contact_inbox": {
                    "inbox": views.inbox_json(account) if held else None,
                    "source_id": held.source_id if held else None,
                },
            }
        }
    )


@router.delete("/contacts/{contact_id}")
async def delete_contact(contact_id: str, store: Store) -> Response:
    """Delete a contact, and with it its contact inboxes and their conversations (messages,
    attachments and all), as ``Contact#destroy!`` does; an empty 200."""
    account = store.chatwoot
    contact = account.find(account.contacts, contact_id)
    gone = account.delete_contact(contact)
    for conversation_id in gone:
        store.chatwoot_changes.append(conversation_id)
    return Response(status_code=200)


@router.post("/conversations")
async def create_conversation(request: Request, store: Store) -> Response:
    """A new conversation of a contact inbox: by contact and inbox (made when new), else by
    source id alone."""
    params, account = await _params(request), store.chatwoot
    held: ContactInbox | None = account.contact_inboxes.get(str(params.get("source_id")))
    if params.get("contact_id") and params.get("inbox_id"):
        contact = account.find(account.contacts, params["contact_id"])
        _inbox(account, params["inbox_id"])
        held = account.contact_inbox(contact, params.get("source_id"))
    if held is None:
        raise not_found()
    conversation = Conversation(
        account.next_id("conversation"),
        held,
        "open",
        json_object(params.get("custom_attributes")),
        json_object(params.get("additional_attributes")),
    )
    account.set_status(conversation, params.get("status") or "open")
    conversation.last_activity_at = conversation.created_at
    account.conversations[conversation.id] = conversation
    store.chatwoot_changes.append(conversation.id)
    return JSONResponse(views.conversation_json(conversation, account))


@router.get("/conversations/{display_id}")
async def show_conversation(display_id: str, store: Store) -> Response:
    """One conversation, by its display id."""
    account = store.chatwoot
    return JSONResponse(
        views.conversation_json(account.find(account.conversations, display_id), account)
    )


@router.post("/conversations/{display_id}/toggle_status")
async def toggle_status(
    display_id: str, request: Request, store: Store, webhooks: ChatwootWebhooks
) -> Response:
    """Set the status given (without one: open becomes resolved, anything else open)."""
    params, account = await _params(request), store.chatwoot
    conversation = account.find(account.conversations, display_id)
    status = params.get("status") or ("resolved" if conversation.status == "open" else "open")
    set_status(store, webhooks, conversation, status)
    payload = {
        "success": True,
        "conversation_id": conversation.id,
        "current_status": conversation.status,
        "snoozed_until": None,
    }
    return JSONResponse({"meta": {}, "payload": payload})


@router.get("/conversations/{display_id}/messages")
async def list_messages(display_id: str, store: Store) -> Response:
    """The latest 20 messages, oldest first."""
    account = store.chatwoot
    conversation = account.find(account.conversations, display_id)
    meta: dict[str, Any] = {
        "labels": [],
        "additional_attributes": conversation.additional_attributes,
        "contact": views.contact_json(conversation.contact_inbox.contact, typed=True),
        "agent_last_seen_at": None,
        "assignee_last_seen_at": None,
    }
    messages = [views.message_json(m, account) for m in conversation.messages[-20:]]
    return JSONResponse({"meta": meta, "payload": messages})


@router.post("/conversations/{display_id}/messages")
async def create_message(
    display_id: str, request: Request, store: Store, webhooks: ChatwootWebhooks
) -> Response:
    """A new message: JSON, or a multipart form with up to 15 ``attachments[]``."""
    account = store.chatwoot
    conversation = account.find(account.conversations, display_id)
    files: list[tuple[str, str, bytes]] = []
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form() as form:
            params: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
            for upload in form.getlist("attachments[]"):
                if not isinstance(upload, str):
                    name, content_type = upload.filename or "file", upload.content_type or ""
                    files.append((name, content_type, await upload.read()))
    else:
        params = await _params(request)
    message_type = params.get("message_type") or "outgoing"
    if message_type not in views.MESSAGE_TYPES:
        raise ChatwootError(422, {"error": f"'{message_type}' is not a valid message_type"})
    if len(files) > MAX_ATTACHMENTS:
        raise ChatwootError(422, {"error": "Attachments exceeded maximum allowed"})
    bot = params.get("sender_type") == "AgentBot" and str(params.get("sender_id")) == "1"
    agent = AGENT_BOT if bot else API_USER
    message = Message(
        account.next_id("message"),
        conversation.id,
        message_type,
        params.get("content"),
        str(params.get("private") or "").lower() not in ("", "0", "f", "false", "off"),
        agent if message_type == "outgoing" else conversation.contact_inbox.contact,
        params.get("content_type") or "text",
        json_object(params.get("content_attributes")),
        params.get("source_id"),
    )
    for name, content, data in files:
        message.attachments.append(_attachment(account, message, (name, content, data), request))
    add_message(store, webhooks, message)
    return JSONResponse(views.message_json(message, account))


def _attachment(
    account: ChatwootAccount, message: Message, file: tuple[str, str, bytes], request: Request
) -> Attachment:
    name, content_type, data = file
    image = {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp"}
    video = {"video/ogg", "video/mp4", "video/webm", "video/quicktime"}
    file_type = "image" if content_type in image else "video" if content_type in video else "file"
    file_type = "audio" if content_type.startswith("audio/") else file_type
    token = secrets.token_urlsafe(24)
    url = f"{request.base_url}rails/active_storage/blobs/redirect/{token}/{quote(name)}"
    attachment = Attachment(
        account.next_id("attachment"), message.id, file_type, content_type, data, url, token
    )
    account.attachments[token] = attachment
    return attachment


def add_message(store: SandboxStore, webhooks: WebhookSender, message: Message) -> None:
    """Keep a message as Chatwoot's model does, and post its events: an incoming one reopens a
    resolved or snoozed conversation; any but an activity is the latest activity."""
    account = store.chatwoot
    conversation = account.conversations[message.conversation_id]
    conversation.messages.append(message)
    if message.message_type == "incoming" and conversation.status in ("resolved", "snoozed"):
        set_status(store, webhooks, conversation, "open")
    if message.message_type != "activity":
        conversation.last_activity_at = int(message.created_at.timestamp())
    webhooks.message_created(message, conversation, account)
    store.chatwoot_changes.append(conversation.id)


def set_status(
    store: SandboxStore, webhooks: WebhookSender, conversation: Conversation, status: object
) -> None:
    """Give a conversation a status (422 when there is no such one); its events follow when it
    changed."""
    account = store.chatwoot
    webhooks.status_changed(conversation, account, account.set_status(conversation, status))
    store.chatwoot_changes.append(conversation.id)
