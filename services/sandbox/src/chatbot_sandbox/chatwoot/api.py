"""The fake Chatwoot's application API, as 4.15.1 answers an admin's access token: contacts,
their contact inboxes, conversations, their status and messages. Every request is recorded;
queued faults hit it before the token is checked."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile

from chatbot_sandbox.chatwoot import views
from chatbot_sandbox.chatwoot.records import (
    NOT_FOUND,
    Agent,
    Attachment,
    ChatwootAccount,
    ChatwootError,
    ChatwootRequestRecord,
    Contact,
    Conversation,
    Message,
)
from chatbot_sandbox.chatwoot.webhooks import WebhookSender
from chatbot_sandbox.deps import ChatwootWebhooks, Store
from chatbot_sandbox.process import SandboxSettings, SandboxStore

__all__ = ["add_message", "router", "set_status"]

API_USER = Agent(2, "Chatbot Integration")
"""Whom the access token belongs to: an administrator, the sender of its outgoing messages."""
IMAGES = {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp"}
VIDEOS = {"video/ogg", "video/mp4", "video/webm", "video/quicktime"}


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
    token = request.headers.get("api_access_token", "")
    expected = settings.chatwoot_api_token.get_secret_value()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise ChatwootError(401, {"error": "Invalid Access Token"})
    if request.path_params.get("account_id") != str(settings.chatwoot_account_id):
        raise ChatwootError(401, {"error": "You are not authorized to access this account"})


router = APIRouter(
    prefix="/api/v1/accounts/{account_id}", tags=["chatwoot"], route_class=_ChatwootRoute
)


async def _params(request: Request) -> dict[str, Any]:
    """A JSON body's fields (none without a body), or a multipart form's, its files read into
    ``attachments[]``: (name, content type, data) each."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        params: dict[str, Any] = await request.json() if await request.body() else {}
        return params
    async with request.form() as form:
        uploads = [f for f in form.getlist("attachments[]") if isinstance(f, UploadFile)]
        files = [(f.filename or "file", f.content_type or "", await f.read()) for f in uploads]
        return {**form, "attachments[]": files}


Params = Annotated[dict[str, Any], Depends(_params)]


def _check_inbox(account: ChatwootAccount, params: dict[str, Any]) -> None:
    if str(params.get("inbox_id")) != str(account.inbox_id):
        raise ChatwootError(404, NOT_FOUND)


@router.post("/contact_inboxes/filter")
async def filter_contact_inboxes(params: Params, store: Store) -> dict[str, Any]:
    """The contact with this source id in the inbox; 404 with an empty body when none."""
    _check_inbox(store.chatwoot, params)
    held = store.chatwoot.contact_inboxes.get(str(params.get("source_id")))
    if held is None:
        raise ChatwootError(404)
    return views.contact_json(held.contact)


@router.post("/contacts")
async def create_contact(params: Params, store: Store) -> dict[str, Any]:
    """A new contact and its contact inbox; none when another contact has the source id (its
    id is spent all the same, as a rolled back insert spends it)."""
    account = store.chatwoot
    _check_inbox(account, params)
    name, phone = str(params.get("name") or ""), params.get("phone_number")
    contact = Contact(account.next_id("contact"), name, phone, params.get("identifier"))
    held = account.contact_inbox(contact, str(params.get("source_id")))
    account.contacts[contact.id] = contact
    contact_inbox = {"source_id": held.source_id}
    return {"payload": {"contact": views.contact_json(contact), "contact_inbox": contact_inbox}}


@router.delete("/contacts/{contact_id}")
async def delete_contact(contact_id: str, store: Store) -> Response:
    """Delete a contact, and with it its contact inboxes and their conversations (messages,
    attachments and all), as ``Contact#destroy!`` does; an empty 200."""
    account = store.chatwoot
    for conversation_id in account.delete_contact(account.find(account.contacts, contact_id)):
        store.chatwoot_changes.append(conversation_id)
    return Response(status_code=200)


@router.post("/conversations")
async def create_conversation(params: Params, store: Store) -> dict[str, Any]:
    """A new conversation of the contact's contact inbox with this source id."""
    account = store.chatwoot
    contact = account.find(account.contacts, params.get("contact_id"))
    _check_inbox(account, params)
    held = account.contact_inbox(contact, str(params.get("source_id")))
    status, attributes = str(params.get("status") or "open"), params.get("custom_attributes")
    conversation = Conversation(account.next_id("conversation"), held, status, attributes or {})
    account.conversations[conversation.id] = conversation
    store.chatwoot_changes.append(conversation.id)
    return views.conversation_json(conversation)


@router.post("/conversations/{display_id}/toggle_status")
async def toggle_status(
    display_id: str, params: Params, store: Store, webhooks: ChatwootWebhooks
) -> dict[str, Any]:
    """Set the status given."""
    conversation = store.chatwoot.find(store.chatwoot.conversations, display_id)
    set_status(store, webhooks, conversation, str(params.get("status")))
    current = {"conversation_id": conversation.id, "current_status": conversation.status}
    return {"meta": {}, "payload": {"success": True} | current}


@router.get("/conversations/{display_id}/messages")
async def list_messages(display_id: str, store: Store) -> dict[str, Any]:
    """The latest 20 messages, oldest first."""
    conversation = store.chatwoot.find(store.chatwoot.conversations, display_id)
    return {"meta": {}, "payload": [views.message_json(m) for m in conversation.messages[-20:]]}


@router.post("/conversations/{display_id}/messages")
async def create_message(
    display_id: str, params: Params, request: Request, store: Store, webhooks: ChatwootWebhooks
) -> dict[str, Any]:
    """A new message: JSON, or a multipart form with ``attachments[]``."""
    account = store.chatwoot
    conversation = account.find(account.conversations, display_id)
    incoming = params.get("message_type") == "incoming"
    message = Message(
        account.next_id("message"),
        conversation.id,
        "incoming" if incoming else "outgoing",
        params.get("content"),
        params.get("private") is True,
        conversation.contact_inbox.contact if incoming else API_USER,
        params.get("source_id"),
    )
    for name, content_type, data in params.get("attachments[]", []):
        token = secrets.token_urlsafe(24)
        url = f"{request.base_url}rails/active_storage/blobs/redirect/{token}/{quote(name)}"
        attachment = Attachment(
            account.next_id("attachment"), _file_type(content_type), content_type, data, url, token
        )
        account.attachments[token] = attachment
        message.attachments.append(attachment)
    add_message(store, webhooks, message)
    return views.message_json(message)


def _file_type(content_type: str) -> str:
    """As Chatwoot's ``FileTypeHelper`` tells it."""
    if content_type.startswith("audio/"):
        return "audio"
    return "image" if content_type in IMAGES else "video" if content_type in VIDEOS else "file"


def add_message(store: SandboxStore, webhooks: WebhookSender, message: Message) -> None:
    """Keep a message as Chatwoot's model does, and post its events: an incoming one reopens a
    resolved conversation, and is its latest activity as any message is."""
    conversation = store.chatwoot.conversations[message.conversation_id]
    conversation.messages.append(message)
    if message.message_type == "incoming" and conversation.status == "resolved":
        set_status(store, webhooks, conversation, "open")
    conversation.last_activity_at = message.created_at
    webhooks.send(conversation.id, views.message_created(message, conversation))
    store.chatwoot_changes.append(conversation.id)


def set_status(
    store: SandboxStore, webhooks: WebhookSender, conversation: Conversation, status: str
) -> None:
    """Give a conversation a status; ``conversation_status_changed`` and
    ``conversation_updated`` follow when it changed."""
    previous, conversation.status = conversation.status, status
    if status != previous:
        webhooks.send(conversation.id, *views.status_changed(conversation, previous))
    store.chatwoot_changes.append(conversation.id)
