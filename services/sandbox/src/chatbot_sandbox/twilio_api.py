"""A fake of Twilio's Messages create endpoint, faithful enough for the real `twilio` SDK.

The sender uses the official SDK with its API base URL pointed here, so this module answers
exactly what Twilio would for the requests the sender makes: HTTP Basic auth with the account
SID and auth token, a form-encoded body, Twilio's validation codes (which the sender sorts
into retryable and permanent) and Twilio's Message resource JSON. Nothing is delivered; every
request is recorded in the store for tests and the chat page to inspect. Phone numbers and
message text are never logged.
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
from fastapi.responses import JSONResponse

from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.store import TwilioMessageRecord

__all__ = ["MAX_BODY_LENGTH", "MESSAGES_PATH", "router"]

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"
MAX_BODY_LENGTH = 1600
_PHONE = re.compile(r"^(?:[a-z]+:)?\+[1-9][0-9]{6,14}$")

router = APIRouter(tags=["twilio"])


class _Rejection(Exception):
    """A request Twilio would refuse, with its HTTP status, error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error_json(rejection: _Rejection) -> JSONResponse:
    return JSONResponse(
        {
            "code": rejection.code,
            "message": rejection.message,
            "more_info": f"https://www.twilio.com/docs/errors/{rejection.code}",
            "status": rejection.status,
        },
        status_code=rejection.status,
    )


def _authorized(request: Request, path_sid: str, settings: SandboxSettings) -> bool:
    """Whether Basic auth carries the account SID and token, and the path names that account."""
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
            hmac.compare_digest(path_sid.encode(), expected_sid),
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
    if body is not None and len(body) > MAX_BODY_LENGTH:
        raise _Rejection(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )


def _message_resource(record: TwilioMessageRecord, sid: str, now: datetime) -> dict[str, Any]:
    """Twilio's Message resource JSON for a freshly queued message."""
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
        "status": "queued",
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": record.to,
        "uri": f"{base}.json",
    }


@router.post(MESSAGES_PATH, status_code=201)
async def create_message(
    account_sid: str, request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """Accept (record, 201) or refuse (record as rejected, 401/400) one outbound message."""
    received_at = datetime.now(UTC)
    params: dict[str, list[str]] = {}
    form = await request.form()
    for key, value in form.multi_items():
        if isinstance(value, str):
            params.setdefault(key, []).append(value)
    await form.close()
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
    try:
        if not _authorized(request, account_sid, settings):
            raise _Rejection(401, 20003, "Authenticate")
        _validate(params)
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
    return JSONResponse(_message_resource(record, sid, datetime.now(UTC)), status_code=201)
