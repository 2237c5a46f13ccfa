"""The fake Twilio's API: Messages create, the WhatsApp typing indicator, faults, read.

It answers what Twilio answers the sender's SDK: Basic auth, the validation codes the sender
sorts into retryable and permanent, and the Message resource. Nothing is delivered; phone
numbers and text are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from chatbot_sandbox.twilio.http import (
    Reporter,
    Settings,
    Store,
    TwilioError,
    apply_fault,
    authorize,
    form_params,
)
from chatbot_sandbox.twilio.records import TwilioFault, TwilioMessageRecord, TypingIndicatorRecord

__all__ = ["MAX_BODY_LENGTH", "MAX_MEDIA", "MESSAGES_PATH", "TYPING_PATH", "router"]

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"
TYPING_PATH = "/v2/Indicators/Typing.json"
MAX_BODY_LENGTH = 1600
"""Counted in UTF-16 code units, as Twilio counts (an emoji outside the BMP is two)."""
MAX_MEDIA = 10
_PHONE = re.compile(r"^(?:[a-z]+:)?\+[1-9][0-9]{6,14}$")
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")

router = APIRouter(tags=["twilio"])


def _first(params: dict[str, list[str]], key: str) -> str | None:
    return params.get(key, [None])[0]


def _validate(record: TwilioMessageRecord) -> None:
    """Raise what Twilio answers a create it refuses, in Twilio's order."""
    if record.to is None:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not _PHONE.match(record.to):
        raise TwilioError(400, 21211, f"The 'To' number {record.to} is not a valid phone number.")
    if record.from_ is None and record.messaging_service_sid is None:
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    if record.body is None and not record.media_urls:
        raise TwilioError(400, 21602, "Message body is required.")
    if len((record.body or "").encode("utf-16-le")) // 2 > MAX_BODY_LENGTH:
        raise TwilioError(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    if len(record.media_urls) > MAX_MEDIA:
        raise TwilioError(400, 21623, "Number of media files exceeds allowed limit.")


def _message_resource(record: TwilioMessageRecord, sid: str) -> dict[str, Any]:
    """Twilio's Message resource for a new message: ``queued`` (``accepted`` with a service)."""
    base = f"/2010-04-01/Accounts/{record.account_sid}/Messages/{sid}"
    stamp = format_datetime(datetime.now(UTC))
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
    """Accept (201) or refuse (401, 400 or a fault's error) one message; record either way."""
    params = await form_params(request)
    record = TwilioMessageRecord(
        account_sid=account_sid,
        to=_first(params, "To"),
        from_=_first(params, "From"),
        messaging_service_sid=_first(params, "MessagingServiceSid"),
        body=_first(params, "Body"),
        media_urls=params.get("MediaUrl", []),
        status_callback=_first(params, "StatusCallback"),
        params=params,
        received_at=datetime.now(UTC),
    )
    try:
        authorize(request, settings, account_sid)
        _validate(record)
        fault = store.take_twilio_fault("messages", record.to)
        await apply_fault(fault)
    except TwilioError as error:
        record.status_code, record.error_code = error.status, error.code
        record.error_message = error.message
        store.twilio_rejected.append(record)
        logger.info(
            "sandbox twilio rejected a message",
            extra={"status_code": error.status, "error_code": error.code},
        )
        return error.response()
    if settings.twilio_latency > 0:
        await asyncio.sleep(settings.twilio_latency)
    record.sid, record.accepted, record.status_code = "SM" + uuid.uuid4().hex, True, 201
    store.twilio_messages.append(record)
    logger.info("sandbox twilio accepted a message", extra={"message_sid": record.sid})
    if settings.status_callbacks:
        reporter.report(record, error_code=fault.delivery_error_code if fault else None)
    return JSONResponse(_message_resource(record, record.sid), status_code=201)


@router.post(TYPING_PATH)
async def create_typing_indicator(
    request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """Show the typing indicator for an inbound message (and mark it read): 200."""
    params = await form_params(request)
    record = TypingIndicatorRecord(
        _first(params, "channel"), _first(params, "messageId"), datetime.now(UTC)
    )
    try:
        authorize(request, settings)
        if record.channel != "whatsapp":
            raise TwilioError(400, 20001, "Invalid channel: typing indicators need 'whatsapp'.")
        if record.message_id is None or not _MESSAGE_SID.match(record.message_id):
            raise TwilioError(400, 90001, "Message SID is invalid.")
        await apply_fault(store.take_twilio_fault("typing"))
    except TwilioError as error:
        record.status_code, record.error_code = error.status, error.code
        store.twilio_typing.append(record)
        return error.response()
    store.twilio_typing.append(record)
    return JSONResponse({"success": True})


@router.post("/_sandbox/twilio/faults", status_code=201, tags=["sandbox"])
async def add_fault(fault: TwilioFault, store: Store) -> dict[str, int]:
    """Queue a fault: the next matching requests fail as it says."""
    store.twilio_faults.append(fault)
    return {"faults": len(store.twilio_faults)}


@router.post("/_sandbox/twilio/messages/{message_sid}/read", tags=["sandbox"])
async def read(message_sid: str, reporter: Reporter) -> dict[str, bool]:
    """The user saw this reply: its ``read`` callback follows (404 when none is due)."""
    if not reporter.read(message_sid):
        raise HTTPException(404, "no delivered, unread message with this SID")
    return {"read": True}
