"""The WhatsApp-like chat page and the endpoints behind it (and behind ``make chat``).

The page lets a newcomer talk to the whole system with no account: what they type becomes a
real Twilio webhook, signed the way Twilio signs it (the twilio SDK's RequestValidator over
PUBLIC_BASE_URL + ``/twilio/messages`` and the form, with the auth token ingress checks) and
posted to ingress. ingress cannot tell it from Twilio, so every service runs its production
path; the reply comes back through the sender to the sandbox's fake Twilio, and
:class:`~chatbot_sandbox.chat_hub.ChatHub` pushes it to the page over server-sent events,
with the ticks the status callbacks report.

Endpoints:

- ``GET /``: the page (plain HTML, CSS and JS shipped in the package, no CDN, no build).
- ``GET /_sandbox/chat/config``: which model answers, whether Twilio is real, preset users.
- ``POST /_sandbox/chat/messages``: send ``{"user", "body"}`` as a signed webhook; with
  ``media`` (files uploaded to ``POST /_sandbox/twilio/media`` first: ``[{"url",
  "content_type", "preview_url"}]``) it is a photo or voice note, ``body`` its caption.
- ``GET /_sandbox/chat/messages``: the transcript (``?user=`` for one user).
- ``GET /_sandbox/chat/events``: the live stream: a ``snapshot`` event, then ``message``,
  ``status`` and ``typing`` events (``?user=`` for one user).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, field_validator, model_validator
from twilio.request_validator import RequestValidator

from chatbot_sandbox.chat_hub import END, ChatHub, ChatMessage, normalise_number
from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.deps import Settings
from chatbot_sandbox.sse import KEEPALIVE, encode_event

__all__ = [
    "EVENTS_PATH",
    "MESSAGES_PATH",
    "PRESET_USERS",
    "Hub",
    "MediaAttachment",
    "SendRequest",
    "get_hub",
    "inbound_form",
    "message_type",
    "router",
    "send_webhook",
]

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/_sandbox/chat/messages"
EVENTS_PATH = "/_sandbox/chat/events"
PRESET_USERS = (
    {"name": "Ana", "number": "+15550001111"},
    {"name": "Ben", "number": "+15550002222"},
    {"name": "Chloé", "number": "+15550003333"},
)
"""Fictional numbers (555-0100 to 555-0199 style), so nothing real is ever written to."""
KEEPALIVE_SECONDS = 15.0
WEBHOOK_TIMEOUT = 15.0
MAX_BODY = 4096
"""WhatsApp's own limit for one text message."""
MAX_MEDIA = 10
"""Twilio's limit of media files on one message."""
_STATIC = files("chatbot_sandbox") / "chat_static"
_ASSETS = {
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["chat"])


def get_hub(request: Request) -> ChatHub:
    """The app's chat hub (made by ``create_app`` next to the store)."""
    hub = request.app.state.chat_hub
    if not isinstance(hub, ChatHub):
        raise RuntimeError("app.state.chat_hub is not set; build the app with create_app()")
    return hub


Hub = Annotated[ChatHub, Depends(get_hub)]


def _user_query(user: str | None) -> str | None:
    if user is None:
        return None
    try:
        return normalise_number(user)
    except ValueError as exc:
        raise HTTPException(422, f"user: {exc}") from exc


UserQuery = Annotated[
    str | None, Query(description="Only this user's messages (E.164, e.g. +15550001111).")
]


class MediaAttachment(BaseModel):
    """A file on the message, as ``POST /_sandbox/twilio/media`` answered it."""

    url: str = Field(
        min_length=1, max_length=2048, description="The media URL (goes in MediaUrl<N>)."
    )
    content_type: str = Field(
        min_length=3,
        max_length=255,
        pattern=r"^[\w.+-]+/[\w.+-]+$",
        description="Its type (goes in MediaContentType<N>), e.g. image/png.",
    )
    preview_url: str | None = Field(
        None, max_length=2048, description="Where the page shows it from (the CDN copy)."
    )


class SendRequest(BaseModel):
    """A message a local user sends to the business number: text, or files with a caption."""

    user: str = Field(description="The user's WhatsApp number, E.164 (+15550001111).")
    body: str = Field(
        "", max_length=MAX_BODY, description="The message text, or the caption of the media."
    )
    profile_name: str | None = Field(
        None, max_length=64, description="The WhatsApp profile name Twilio would send."
    )
    media: list[MediaAttachment] = Field(
        default_factory=list, max_length=MAX_MEDIA, description="Attached files, in order."
    )
    message_sid: str | None = Field(
        None,
        pattern=r"^MM[0-9a-fA-F]{32}$",
        description="The upload's message SID (MM...), so the webhook names the same message.",
    )

    @field_validator("user")
    @classmethod
    def _number(cls, value: str) -> str:
        return normalise_number(value)

    @model_validator(mode="after")
    def _not_empty(self) -> SendRequest:
        if not self.body.strip() and not self.media:
            raise ValueError("the message is empty")
        return self


def message_type(content_type: str) -> str:
    """Twilio's ``MessageType`` for a message whose first file has this type."""
    kind = content_type.split("/", 1)[0].lower()
    return kind if kind in ("image", "audio", "video") else "document"


def inbound_form(
    settings: SandboxSettings, message_sid: str, request: SendRequest
) -> dict[str, str]:
    """The fields Twilio posts for an inbound WhatsApp message (text, or media and caption)."""
    form = {
        "MessageSid": message_sid,
        "SmsMessageSid": message_sid,
        "SmsSid": message_sid,
        "AccountSid": settings.twilio_account_sid,
        "From": f"whatsapp:{request.user}",
        "To": settings.business_address,
        "Body": request.body,
        "WaId": request.user.removeprefix("+"),
        "NumMedia": str(len(request.media)),
        "NumSegments": "1",
        "MessageType": message_type(request.media[0].content_type) if request.media else "text",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    for index, media in enumerate(request.media):
        form[f"MediaUrl{index}"] = media.url
        form[f"MediaContentType{index}"] = media.content_type
    if request.profile_name:
        form["ProfileName"] = request.profile_name
    return form


def _refusal(status: int) -> str:
    if status == 403:
        return (
            "ingress refused the signature (403): PUBLIC_BASE_URL and TWILIO_AUTH_TOKEN must "
            "be the same for ingress and the sandbox"
        )
    if status == 503:
        return "ingress is not ready (503): NATS is down or slow; Twilio would retry"
    return f"ingress answered {status}"


async def send_webhook(
    settings: SandboxSettings, hub: ChatHub, request: SendRequest
) -> tuple[ChatMessage, str | None]:
    """Post the message to ingress as Twilio would; the bubble, and why it failed (if it did)."""
    if request.message_sid is not None:
        message_sid = request.message_sid
    else:
        message_sid = ("MM" if request.media else "SM") + uuid.uuid4().hex
    form = inbound_form(settings, message_sid, request)
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        settings.webhook_url, form
    )
    message = hub.add_inbound(
        message_sid,
        request.user,
        request.body,
        [media.model_dump() for media in request.media],
    )
    target = settings.ingress_url.rstrip("/") + "/twilio/messages"
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT) as client:
            answer = await client.post(target, data=form, headers={"X-Twilio-Signature": signature})
    except httpx.HTTPError as exc:
        problem = f"ingress is unreachable at {settings.ingress_url} ({type(exc).__name__})"
        hub.update(message_sid, "failed", problem)
        logger.info(
            "chat webhook not delivered",
            extra={"message_sid": message_sid, "error": type(exc).__name__},
        )
        return message, problem
    logger.info(
        "chat webhook posted",
        extra={"message_sid": message_sid, "status_code": answer.status_code},
    )
    if answer.status_code != 200:
        problem = _refusal(answer.status_code)
        hub.update(message_sid, "failed", problem)
        return message, problem
    hub.update(message_sid, "sent")
    return message, None


@router.get("/", include_in_schema=False)
async def page() -> Response:
    """The chat page."""
    html = (_STATIC / "index.html").read_text(encoding="utf-8")
    return Response(html, media_type="text/html; charset=utf-8", headers=_NO_CACHE)


@router.get("/_sandbox/chat/static/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    """The page's stylesheet, script and icon (a fixed list: nothing else is served)."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    return Response((_STATIC / name).read_bytes(), media_type=media_type, headers=_NO_CACHE)


@router.get("/_sandbox/chat/config")
async def chat_config(settings: Settings, hub: Hub) -> dict[str, Any]:
    """What the page shows around the chat: the model, the Twilio mode, the preset users."""
    return {
        "model_label": settings.model_label,
        "model_provider": settings.model_provider,
        "twilio_real": settings.twilio_real,
        "business_number": settings.business_address,
        "webhook_url": settings.webhook_url,
        "ingress_url": settings.ingress_url,
        "presets": list(PRESET_USERS),
        "streams": hub.subscribers,
    }


@router.post(MESSAGES_PATH, status_code=201)
async def send(request: SendRequest, settings: Settings, hub: Hub) -> JSONResponse:
    """Send a user's message through ingress: 201 when ingress took it, 502 when it did not."""
    message, problem = await send_webhook(settings, hub, request)
    if problem is not None:
        return JSONResponse({"detail": problem, "message": message.to_json()}, status_code=502)
    return JSONResponse({"message": message.to_json()}, status_code=201)


@router.get(MESSAGES_PATH)
async def transcript(hub: Hub, user: UserQuery = None) -> list[dict[str, Any]]:
    """The transcript, oldest first."""
    return [message.to_json() for message in hub.messages(_user_query(user))]


async def _stream(hub: ChatHub, user: str | None) -> AsyncIterator[str]:
    with hub.subscribe(user) as (subscription, snapshot):
        yield "retry: 1000\n\n"
        yield encode_event("snapshot", {"user": user, **snapshot})
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                if subscription.ended:
                    return
                yield KEEPALIVE
                continue
            if event is END:
                return
            yield encode_event(*event)
            if subscription.ended and subscription.queue.empty():
                return


@router.get(EVENTS_PATH)
async def events(hub: Hub, user: UserQuery = None) -> StreamingResponse:
    """Server-sent events: a snapshot of the transcript, then every change as it happens."""
    return StreamingResponse(
        _stream(hub, _user_query(user)),
        media_type="text/event-stream",
        headers={**_NO_CACHE, "X-Accel-Buffering": "no"},
    )
