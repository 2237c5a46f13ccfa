"""A fake of the Twilio endpoints the sender calls, faithful enough for the real `twilio` SDK.

The sender uses the official SDK with its API base URL pointed here, so this module answers
exactly what Twilio would for the requests the sender makes: HTTP Basic auth with the account
SID and auth token, a form-encoded body, Twilio's validation codes (which the sender sorts
into retryable and permanent) and Twilio's resource JSON. Two endpoints are served on one host:
Messages create (api.twilio.com) and the WhatsApp typing indicator (messaging.twilio.com).
Tests inject Twilio's failures with faults (an error code, a Retry-After, a slow answer, a
delivery that fails later); accepted messages report their progress with signed status
callbacks (:mod:`chatbot_sandbox.status_callbacks`). Nothing is delivered; every request is
recorded in the store for tests and the chat page to inspect. Phone numbers and message text
are never logged.

Inbound media is served too, as Twilio serves it to the conversation service: the media URL
(``MEDIA_PATH``) needs the account's Basic auth and answers with a redirect to an
unauthenticated CDN copy; files get there through the sandbox's upload endpoint
(:mod:`chatbot_sandbox.twilio_media`, whose routes this router includes). Media URLs and bytes
are never logged either.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse

from chatbot_sandbox import twilio_media
from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.deps import Reporter, Settings, Store
from chatbot_sandbox.store import TwilioMessageRecord
from chatbot_sandbox.twilio_records import (
    MediaFetchRecord,
    TwilioFault,
    TypingIndicatorRecord,
    take_fault,
)

__all__ = [
    "MAX_BODY_LENGTH",
    "MAX_MEDIA",
    "MEDIA_PATH",
    "MESSAGES_PATH",
    "TYPING_PATH",
    "router",
]

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"
TYPING_PATH = "/v2/Indicators/Typing.json"
MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
MAX_BODY_LENGTH = 1600
"""Counted in UTF-16 code units: Twilio counts an emoji outside the BMP as two characters."""
MAX_MEDIA = 10
_PHONE = re.compile(r"^(?:[a-z]+:)?\+[1-9][0-9]{6,14}$")
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")

router = APIRouter(tags=["twilio"])


class _Rejection(Exception):
    """A request Twilio would refuse, with its HTTP status, error code and message."""

    def __init__(
        self, status: int, code: int, message: str, *, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _error_json(rejection: _Rejection) -> JSONResponse:
    headers = {"Retry-After": rejection.retry_after} if rejection.retry_after else None
    return JSONResponse(
        {
            "code": rejection.code,
            "message": rejection.message,
            "more_info": f"https://www.twilio.com/docs/errors/{rejection.code}",
            "status": rejection.status,
        },
        status_code=rejection.status,
        headers=headers,
    )


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _form_params(request: Request) -> dict[str, list[str]]:
    """The form fields of a request, every value of each kept in order."""
    params: dict[str, list[str]] = {}
    form = await request.form()
    for key, value in form.multi_items():
        if isinstance(value, str):
            params.setdefault(key, []).append(value)
    await form.close()
    return params


async def _apply_fault(fault: TwilioFault | None) -> None:
    """Wait as long as the fault says, then raise the error it asks for (if any)."""
    if fault is None:
        return
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is not None:
        code = fault.code if fault.code is not None else fault.status
        raise _Rejection(fault.status, code, fault.message, retry_after=fault.retry_after)


def _authorized(request: Request, path_sid: str | None, settings: SandboxSettings) -> bool:
    """Whether Basic auth carries the account SID and token, and the path (if any) names it."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    username, separator, password = decoded.partition(b":")
    if not separator:
        return False
    expected_sid = settings.twilio_account_sid.encode()
    expected_token = settings.twilio_auth_token.get_secret_value().encode()
    return all(
        [
            hmac.compare_digest(username, expected_sid),
            hmac.compare_digest(password, expected_token),
            path_sid is None or hmac.compare_digest(path_sid.encode(), expected_sid),
        ]
    )


def _one(params: dict[str, list[str]], key: str) -> str | None:
    """The first non-empty value of a form field (the SDK omits unset fields)."""
    for value in params.get(key, []):
        if value != "":
            return value
    return None


def _validate(params: dict[str, list[str]]) -> None:
    """Raise the rejection Twilio would answer, checking in Twilio's order."""
    to = _one(params, "To")
    if to is None:
        raise _Rejection(400, 21604, "A 'To' phone number is required.")
    if not _PHONE.match(to):
        raise _Rejection(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if _one(params, "From") is None and _one(params, "MessagingServiceSid") is None:
        raise _Rejection(400, 21603, "A 'From' phone number is required.")
    body = _one(params, "Body")
    media = [url for url in params.get("MediaUrl", []) if url]
    if body is None and not media and _one(params, "ContentSid") is None:
        raise _Rejection(400, 21602, "Message body is required.")
    if body is not None and _utf16_length(body) > MAX_BODY_LENGTH:
        raise _Rejection(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    if len(media) > MAX_MEDIA:
        raise _Rejection(400, 21623, "Number of media files exceeds allowed limit.")


def _message_resource(record: TwilioMessageRecord, sid: str, now: datetime) -> dict[str, Any]:
    """Twilio's Message resource JSON for a new message: `queued`, `accepted` with a service."""
    base = f"/2010-04-01/Accounts/{record.account_sid}/Messages/{sid}"
    stamp = format_datetime(now)
    return {
        "account_sid": record.account_sid,
        "api_version": "2010-04-01",
        "body": record.body or "",
        "date_created": stamp,
        "date_sent": None,
        "date_updated": stamp,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": record.from_,
        "messaging_service_sid": record.messaging_service_sid,
        "num_media": str(len(record.media_urls)),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if record.messaging_service_sid else "queued",
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": record.to,
        "uri": f"{base}.json",
    }


@router.post(MESSAGES_PATH, status_code=201)
async def create_message(
    account_sid: str, request: Request, settings: Settings, store: Store, reporter: Reporter
) -> JSONResponse:
    """Accept (record, 201) or refuse (record as rejected, 401/400/fault) one message."""
    received_at = datetime.now(UTC)
    params = await _form_params(request)
    record = TwilioMessageRecord(
        account_sid=account_sid,
        to=_one(params, "To"),
        from_=_one(params, "From"),
        messaging_service_sid=_one(params, "MessagingServiceSid"),
        body=_one(params, "Body"),
        media_urls=[url for url in params.get("MediaUrl", []) if url],
        status_callback=_one(params, "StatusCallback"),
        content_sid=_one(params, "ContentSid"),
        params=params,
        received_at=received_at,
        accepted=False,
        status_code=0,
    )
    fault = None
    try:
        if not _authorized(request, account_sid, settings):
            raise _Rejection(401, 20003, "Authenticate")
        _validate(params)
        fault = take_fault(store.twilio_faults, store.fault_rng, "messages", record.to)
        await _apply_fault(fault)
    except _Rejection as rejection:
        record.status_code = rejection.status
        record.error_code = rejection.code
        record.error_message = rejection.message
        store.twilio_rejected.append(record)
        logger.info(
            "sandbox twilio rejected a message",
            extra={"status_code": rejection.status, "error_code": rejection.code},
        )
        return _error_json(rejection)

    if settings.twilio_latency > 0:
        await asyncio.sleep(settings.twilio_latency)
    sid = "SM" + uuid.uuid4().hex
    record.sid = sid
    record.accepted = True
    record.status_code = 201
    store.twilio_messages.append(record)
    logger.info(
        "sandbox twilio accepted a message",
        extra={"message_sid": sid, "num_media": len(record.media_urls)},
    )
    if settings.status_callbacks:
        reporter.report(record, error_code=fault.delivery_error_code if fault else None)
    return JSONResponse(_message_resource(record, sid, datetime.now(UTC)), status_code=201)


@router.post(TYPING_PATH)
async def create_typing_indicator(
    request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """Show a WhatsApp typing indicator for an inbound message: 200 `{"success": true}`."""
    params = await _form_params(request)
    record = TypingIndicatorRecord(
        channel=_one(params, "channel"),
        message_id=_one(params, "messageId"),
        received_at=datetime.now(UTC),
        status_code=200,
    )
    try:
        if not _authorized(request, None, settings):
            raise _Rejection(401, 20003, "Authenticate")
        if record.channel != "whatsapp":
            raise _Rejection(400, 20001, "Invalid channel: typing indicators need 'whatsapp'.")
        if record.message_id is None or not _MESSAGE_SID.match(record.message_id):
            raise _Rejection(400, 90001, "Message SID is invalid.")
        await _apply_fault(take_fault(store.twilio_faults, store.fault_rng, "typing"))
    except _Rejection as rejection:
        record.status_code = rejection.status
        record.error_code = rejection.code
        store.twilio_typing.append(record)
        return _error_json(rejection)
    store.twilio_typing.append(record)
    return JSONResponse({"success": True})


@router.post("/_sandbox/twilio/faults", status_code=201, tags=["sandbox"])
async def add_fault(fault: TwilioFault, store: Store) -> dict[str, int]:
    """Make the fake fail the next matching requests as the fault says (faults queue up)."""
    store.twilio_faults.append(fault)
    return {"faults": len(store.twilio_faults)}


@router.get(MEDIA_PATH, response_model=None)
async def fetch_media(
    account_sid: str,
    message_sid: str,
    media_sid: str,
    request: Request,
    settings: Settings,
    store: Store,
) -> JSONResponse | RedirectResponse:
    """Inbound media, as Twilio serves it with media auth on: Basic auth, then a redirect."""
    record = MediaFetchRecord(
        stage="api",
        media_sid=media_sid,
        received_at=datetime.now(UTC),
        status_code=307,
        authorized="authorization" in request.headers,
    )
    try:
        if not _authorized(request, account_sid, settings):
            raise _Rejection(401, 20003, "Authenticate")
        await _apply_fault(take_fault(store.twilio_faults, store.fault_rng, "media"))
        media = store.twilio_media.get(media_sid)
        if media is None or media.message_sid != message_sid:
            raise _Rejection(
                404,
                20404,
                f"The requested resource {request.url.path} was not found",
            )
    except _Rejection as rejection:
        record.status_code = rejection.status
        record.error_code = rejection.code
        store.twilio_media_fetches.append(record)
        logger.info(
            "sandbox twilio refused a media download",
            extra={"status_code": rejection.status, "error_code": rejection.code},
        )
        return _error_json(rejection)
    store.twilio_media_fetches.append(record)
    origin = str(request.base_url).rstrip("/")
    return RedirectResponse(twilio_media.cdn_url(media, origin), status_code=307)


router.include_router(twilio_media.router)
