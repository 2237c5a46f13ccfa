"""The fake Twilio's API as the services' SDKs meet it: Messages create (text or a content
template), the Content API, the WhatsApp typing indicator, inbound media; and the sandbox's own:
faults, closed 24-hour windows, uploads, read receipts. Nothing is delivered, nor numbers or text
logged. A route refuses by raising ``TwilioError``, which the app answers as Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from chatbot_sandbox.deps import Reporter, Settings, Store
from chatbot_sandbox.twilio.records import (
    MediaFetchRecord,
    StoredMedia,
    TwilioFault,
    TwilioMessageRecord,
    TwilioWindow,
    TypingIndicatorRecord,
)
from chatbot_sandbox.twilio.settings import TEMPLATES, TwilioSettings

__all__ = ["TwilioError", "answer_error", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["twilio"])

ACCOUNT_PATH = "/2010-04-01/Accounts/{account_sid}"
CDN_PATH = "/_sandbox/twilio/cdn/{token}"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_UNSENDABLE = re.compile(r"[\n\t]| {5}")
"""What a variable's value may not hold on WhatsApp: a newline, a tab, five spaces in a row."""
_TOO_LONG = "The concatenated message body exceeds the 1600 character limit."


@dataclass
class TwilioError(Exception):
    """A refusal as Twilio answers it: HTTP status, error code, message, maybe Retry-After."""

    status: int
    code: int
    message: str
    retry_after: str | None = None


async def answer_error(request: Request, error: TwilioError) -> JSONResponse:
    """Twilio's error JSON for a refusal a route raised (the app's handler of TwilioError)."""
    return JSONResponse(
        {
            "code": error.code,
            "message": error.message,
            "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
            "status": error.status,
        },
        status_code=error.status,
        headers={"Retry-After": error.retry_after} if error.retry_after else None,
    )


def _authorize(request: Request, settings: TwilioSettings, path_sid: str | None = None) -> None:
    """Raise 401 (20003) unless Basic auth carries the account and token (and the path's SID)."""
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
    expected = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()) or path_sid not in (None, sid):
        raise TwilioError(401, 20003, "Authenticate")


def _not_found(request: Request) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {request.url.path} was not found")


async def _apply(fault: TwilioFault | None) -> None:
    """Wait as long as the fault says, then raise the error it asks for (if any)."""
    if fault is None:
        return
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is not None:
        code = fault.code if fault.code is not None else fault.status
        raise TwilioError(fault.status, code, "Injected by the sandbox", fault.retry_after)


async def _form(request: Request) -> tuple[dict[str, str], list[str]]:
    """A form's non-empty fields (the SDK omits unset ones), and its ``MediaUrl`` values."""
    async with request.form() as form:
        fields = {key: value for key, value in form.items() if isinstance(value, str) and value}
        urls = [url for url in form.getlist("MediaUrl") if isinstance(url, str) and url]
    return fields, urls


def _render(content_sid: str, content_variables: str | None) -> str:
    """The template's text with its variables: those sent, else its defaults (21655, 21656)."""
    if content_sid not in TEMPLATES:
        raise TwilioError(400, 21655, "The ContentSid is Invalid")
    body, defaults = TEMPLATES[content_sid]
    invalid = TwilioError(400, 21656, "The Content Variables parameter is invalid.")
    try:
        sent = json.loads(content_variables or "{}")
    except ValueError:
        raise invalid from None
    if not isinstance(sent, dict) or not all(
        isinstance(value, str) and value and not _UNSENDABLE.search(value)
        for value in sent.values()
    ):
        raise invalid
    values = {**defaults, **sent}  # a template has a default for each of its variables
    return _PLACEHOLDER.sub(lambda match: values[match[1]], body)


def _message_resource(record: TwilioMessageRecord) -> dict[str, Any]:
    """Twilio's Message resource for a new message: ``queued`` (``accepted`` with a service);
    a template's body is empty with a Messaging Service, as Twilio's (twilio/twilio-node#1081)."""
    templated_by_service = record.content_sid and record.messaging_service_sid
    return {
        "account_sid": record.account_sid,
        "body": "" if templated_by_service else record.body or "",
        "date_created": format_datetime(datetime.now(UTC)),
        "date_sent": None,
        "direction": "outbound-api",
        "error_code": None,
        "from": record.from_,
        "messaging_service_sid": record.messaging_service_sid,
        "num_media": str(len(record.media_urls)),
        "num_segments": "1",
        "sid": record.sid,
        "status": "accepted" if record.messaging_service_sid else "queued",
        "to": record.to,
        "uri": f"{ACCOUNT_PATH.format(account_sid=record.account_sid)}/Messages/{record.sid}.json",
    }


@router.post(ACCOUNT_PATH + "/Messages.json", status_code=201)
async def create_message(
    account_sid: str, request: Request, settings: Settings, store: Store, reporter: Reporter
) -> dict[str, Any]:
    """Accept (201) or refuse (401, 400 or a fault's error) one message; record either way."""
    fields, media_urls = await _form(request)
    record = TwilioMessageRecord(
        account_sid=account_sid,
        to=fields.get("To"),
        from_=fields.get("From"),
        messaging_service_sid=fields.get("MessagingServiceSid"),
        body=fields.get("Body"),
        media_urls=media_urls,
        status_callback=fields.get("StatusCallback"),
        content_sid=fields.get("ContentSid"),
        content_variables=fields.get("ContentVariables"),
    )
    delivery_error_code = None
    try:
        _authorize(request, settings, account_sid)
        if len((record.body or "").encode("utf-16-le")) > 2 * 1600:  # UTF-16 units, as Twilio
            raise TwilioError(400, 21617, _TOO_LONG)
        if record.content_sid is not None:
            record.body = _render(record.content_sid, record.content_variables)
        elif record.to in store.twilio_windows:
            delivery_error_code = 63016  # accepted, then failed, as WhatsApp does
        fault = store.take_twilio_fault("messages", record.to)
        await _apply(fault)
    except TwilioError as error:
        record.status_code, record.error_code = error.status, error.code
        store.twilio_rejected.append(record)
        extra = {"status_code": error.status, "error_code": error.code}
        logger.info("sandbox twilio rejected a message", extra=extra)
        raise
    if settings.twilio_latency > 0:
        await asyncio.sleep(settings.twilio_latency)
    record.sid = "SM" + uuid.uuid4().hex
    store.twilio_messages.append(record)
    logger.info("sandbox twilio accepted a message", extra={"message_sid": record.sid})
    if fault is not None and fault.delivery_error_code is not None:
        delivery_error_code = fault.delivery_error_code
    if settings.status_callbacks:
        reporter.report(record, error_code=delivery_error_code)
    return _message_resource(record)


@router.get("/v1/Content/{content_sid}")
async def fetch_content(content_sid: str, request: Request, settings: Settings) -> dict[str, Any]:
    """A template of the Content API (``content.v1.contents(sid).fetch``): 200, or 404 (20404)."""
    _authorize(request, settings)
    if content_sid not in TEMPLATES:
        raise _not_found(request)
    body, defaults = TEMPLATES[content_sid]
    return {
        "sid": content_sid,
        "account_sid": settings.twilio_account_sid,
        "variables": defaults,
        "types": {"twilio/text": {"body": body}},
    }


@router.post("/v2/Indicators/Typing.json")
async def create_typing_indicator(
    request: Request, settings: Settings, store: Store
) -> dict[str, bool]:
    """Show the typing indicator for an inbound message (and mark it read): 200."""
    fields, _ = await _form(request)
    record = TypingIndicatorRecord(fields.get("channel"), fields.get("messageId"))
    try:
        _authorize(request, settings)
        await _apply(store.take_twilio_fault("typing"))
    except TwilioError as error:  # recorded as answered: a cancelled request is not
        record.status_code, record.error_code = error.status, error.code
        store.twilio_typing.append(record)
        raise
    store.twilio_typing.append(record)
    return {"success": True}


@router.get(ACCOUNT_PATH + "/Messages/{message_sid}/Media/{media_sid}")
async def fetch_media(
    account_sid: str,
    message_sid: str,
    media_sid: str,
    request: Request,
    settings: Settings,
    store: Store,
) -> RedirectResponse:
    """Media of a received message: Basic auth, then a redirect to its CDN copy."""
    record = MediaFetchRecord("api", 307, "authorization" in request.headers)
    try:
        _authorize(request, settings, account_sid)
        await _apply(store.take_twilio_fault("media"))
        media = store.twilio_media.get(media_sid)
        if media is None or media.message_sid != message_sid:
            raise _not_found(request)
    except TwilioError as error:  # recorded as answered: a cancelled request is not
        record.status_code, record.error_code = error.status, error.code
        store.twilio_media_fetches.append(record)
        raise
    store.twilio_media_fetches.append(record)
    return RedirectResponse(_cdn_url(media, request), status_code=307)


@router.get(CDN_PATH)
async def cdn_copy(token: str, request: Request, store: Store) -> Response:
    """A file's CDN copy: no credentials, the unguessable token is the secret."""
    media = next(
        (m for m in store.twilio_media.values() if secrets.compare_digest(m.token, token)), None
    )
    status, authorized = 200 if media else 404, "authorization" in request.headers
    store.twilio_media_fetches.append(MediaFetchRecord("cdn", status, authorized))
    if media is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    return Response(media.data, media_type=media.content_type)


def _cdn_url(media: StoredMedia, request: Request) -> str:
    base = media.cdn_base or str(request.base_url)
    return base.rstrip("/") + CDN_PATH.format(token=media.token)


@router.post("/_sandbox/twilio/media", status_code=201, tags=["sandbox"])
async def upload_media(
    request: Request,
    settings: Settings,
    store: Store,
    message_sid: Annotated[str | None, Query(description="Add to this message (MM...).")] = None,
    cdn_base: Annotated[str | None, Query(description="Origin to redirect to.")] = None,
) -> dict[str, Any]:
    """Keep the body as a user's attachment; answer its ``MediaUrl`` and a preview URL."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the sandbox keeps files up to {MAX_UPLOAD_BYTES} bytes")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    media = StoredMedia(
        sid="ME" + uuid.uuid4().hex,
        message_sid=message_sid or "MM" + uuid.uuid4().hex,
        content_type=content_type or "application/octet-stream",
        data=bytes(data),
        token=secrets.token_urlsafe(24),
        cdn_base=cdn_base,
    )
    store.twilio_media[media.sid] = media
    path = ACCOUNT_PATH.format(account_sid=settings.twilio_account_sid)
    return {
        "url": f"https://api.twilio.com{path}/Messages/{media.message_sid}/Media/{media.sid}",
        "message_sid": media.message_sid,
        "content_type": media.content_type,
        "preview_url": _cdn_url(media, request),
    }


@router.post("/_sandbox/twilio/faults", status_code=201, tags=["sandbox"])
async def add_fault(fault: TwilioFault, store: Store) -> dict[str, int]:
    """Queue a fault: the next matching requests fail as it says."""
    store.twilio_faults.append(fault)
    return {"faults": len(store.twilio_faults)}


@router.post("/_sandbox/twilio/windows", tags=["sandbox"])
async def set_window(window: TwilioWindow, store: Store) -> dict[str, int]:
    """Close a user's 24-hour window (or open it again); how many are closed."""
    if window.open:
        store.twilio_windows.discard(window.to)
    else:
        store.twilio_windows.add(window.to)
    return {"closed": len(store.twilio_windows)}


@router.post("/_sandbox/twilio/messages/{message_sid}/read", tags=["sandbox"])
async def read(message_sid: str, reporter: Reporter) -> dict[str, bool]:
    """The user saw this reply: its ``read`` callback follows (404 when none is due)."""
    if not reporter.read(message_sid):
        raise HTTPException(404, "no delivered, unread message with this SID")
    return {"read": True}
