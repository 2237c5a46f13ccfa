"""The chat page and the endpoints behind it (and ``make chat``): a user's message becomes a
signed Twilio webhook to ingress; replies reach the page through the fake Twilio, as events.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import AfterValidator, BaseModel, Field, model_validator

from chatbot_sandbox.chat.hub import END, ChatMessage
from chatbot_sandbox.chat.wire import EVENTS_PATH, MESSAGES_PATH, normalise_number
from chatbot_sandbox.deps import Hub, Settings, Store
from chatbot_sandbox.records import record_json
from chatbot_sandbox.twilio.inbound import inbound_form, signature

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["chat"])

PRESET_USERS = (
    {"name": "Ana", "number": "+15550001111"},
    {"name": "Ben", "number": "+15550002222"},
    {"name": "Chloé", "number": "+15550003333"},
)
"""Fictional numbers (555-01xx), so nothing real is ever written to."""
_STATIC = files("chatbot_sandbox") / "chat" / "static"
_ASSETS = {
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
_NO_CACHE = {"Cache-Control": "no-cache"}
_REFUSALS = {
    403: "ingress refused the signature (403): PUBLIC_BASE_URL and TWILIO_AUTH_TOKEN must be the "
    "same for ingress and the sandbox",
    503: "ingress is not ready (503): NATS is down or slow; Twilio would retry",
}
Number = AfterValidator(normalise_number)
"""A user's number as E.164, however typed (422 when it is none)."""


class MediaAttachment(BaseModel):
    """A file on the message, as ``POST /_sandbox/twilio/media`` answered it."""

    url: str = Field(min_length=1, max_length=2048)
    content_type: str = Field(min_length=3, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
    preview_url: str | None = Field(None, max_length=2048)


class SendRequest(BaseModel):
    """A message a local user sends to the business number: text, or files with a caption."""

    user: Annotated[str, Number]
    body: str = Field("", max_length=4096)  # WhatsApp's own limit for a text message
    profile_name: str | None = Field(None, max_length=64)
    media: list[MediaAttachment] = Field(default_factory=list, max_length=10)
    message_sid: str | None = Field(None, pattern=r"^MM[0-9a-fA-F]{32}$")  # an upload's

    @model_validator(mode="after")
    def _not_empty(self) -> SendRequest:
        if not self.body.strip() and not self.media:
            raise ValueError("the message is empty")
        return self


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
async def chat_config(settings: Settings) -> dict[str, Any]:
    """What the page shows around the chat: the model, the Twilio mode, the preset users."""
    return {
        "model_label": settings.model_label,
        "model_provider": settings.model_provider,
        "twilio_real": settings.twilio_real,
        "business_number": settings.business_address,
        "presets": list(PRESET_USERS),
    }


@router.post(MESSAGES_PATH, status_code=201)
async def send(request: SendRequest, settings: Settings, hub: Hub, store: Store) -> JSONResponse:
    """Show a user's message, post it to ingress as Twilio would, and tick it sent (201) or
    failed (502, saying why). Writing opens the user's 24-hour window again, as on WhatsApp."""
    message_sid = request.message_sid or ("MM" if request.media else "SM") + uuid.uuid4().hex
    form = inbound_form(
        sid=message_sid,
        account_sid=settings.twilio_account_sid,
        user=f"whatsapp:{request.user}",
        to=settings.business_address,
        body=request.body,
        media=[(media.url, media.content_type) for media in request.media],
        profile_name=request.profile_name,
    )
    store.twilio_windows.discard(form["From"])
    headers = signature(settings.twilio_auth_token.get_secret_value(), settings.webhook_url, form)
    message = ChatMessage(message_sid, request.user, "in", request.body, "pending")
    message.media = [attachment.model_dump() for attachment in request.media]
    message.profile_name = request.profile_name
    hub.add(message)
    target = settings.ingress_url.rstrip("/") + "/twilio/messages"
    try:
        async with httpx.AsyncClient(timeout=15.0) as client:
            answer = await client.post(target, data=form, headers=headers)
    except httpx.HTTPError as exc:
        logger.info("chat webhook not delivered", extra={"error": type(exc).__name__})
        hub.update(message_sid, "failed", f"ingress is unreachable at {settings.ingress_url}")
    else:
        status = answer.status_code
        logger.info("chat webhook posted", extra={"status_code": status})
        if status == 200:
            hub.update(message_sid, "sent")
        else:
            hub.update(message_sid, "failed", _REFUSALS.get(status, f"ingress answered {status}"))
    if message.status == "failed":
        return JSONResponse({"detail": message.error, "message": record_json(message)}, 502)
    return JSONResponse({"message": record_json(message)}, status_code=201)


@router.get(EVENTS_PATH, response_class=EventSourceResponse)
async def events(
    hub: Hub,
    user: Annotated[str | None, Query(description="Only this user's."), Number] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: a snapshot of the transcript, then every change as it happens (with
    FastAPI's keep-alive comments in between), until the hub ends the stream."""
    with hub.subscribe(user) as (queue, snapshot):
        yield ServerSentEvent(event="snapshot", data={"user": user, **snapshot}, retry=1000)
        while (event := await queue.get()) is not END:
            yield ServerSentEvent(event=event[0], data=event[1])
