"""Twilio's status callbacks, imitated for every message the fake Twilio API accepts.

Twilio reports a message's progress to the StatusCallback URL given when it was created. The
sandbox does the same, so ingress's ``/twilio/status`` and everything behind it run in tests
and ``make run``: each accepted message reports ``queued``, ``sent``, ``delivered`` and
``read``, or ``queued`` then ``failed`` with an ErrorCode when a fault asked for a failed
delivery. Each callback is posted like Twilio's: form-encoded, one after the other, signed with
``X-Twilio-Signature`` computed by the twilio SDK's RequestValidator over the exact callback
URL and fields, with the auth token the sandbox accepts. ``SANDBOX_STATUS_CALLBACKS=false``
turns them off. The posts run in the background: the create is answered first, as Twilio does.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime
from functools import cache

import httpx
from twilio.request_validator import RequestValidator

from chatbot_sandbox.store import RecordLog, TwilioMessageRecord
from chatbot_sandbox.twilio_records import StatusCallbackRecord

__all__ = ["DELIVERED", "FAILED", "SIGNATURE_HEADER", "report_statuses"]

logger = logging.getLogger(__name__)

DELIVERED = ("queued", "sent", "delivered", "read")
FAILED = ("queued", "failed")
SIGNATURE_HEADER = "X-Twilio-Signature"
_TIMEOUT = 5.0

# Running callback tasks, referenced until done so the event loop does not drop them.
_running: set[asyncio.Task[None]] = set()


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every callback client: building one loads the CA bundle, which
    costs more CPU than all of a message's callbacks together."""
    return httpx.create_ssl_context()


def report_statuses(
    record: TwilioMessageRecord,
    *,
    auth_token: str,
    log: RecordLog[StatusCallbackRecord],
    error_code: int | None = None,
) -> None:
    """Start posting ``record``'s statuses to its StatusCallback URL (if it has one)."""
    if not record.status_callback or not record.sid:
        return
    task = asyncio.create_task(
        _post_statuses(record, record.status_callback, auth_token, log, error_code),
        name=f"status-callbacks-{record.sid}",
    )
    _running.add(task)
    task.add_done_callback(_running.discard)


def _fields(record: TwilioMessageRecord, status: str, error_code: int | None) -> dict[str, str]:
    """The form fields of one callback, as Twilio names them for a WhatsApp message."""
    fields = {
        "AccountSid": record.account_sid,
        "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp",
        "MessageSid": record.sid or "",
        "MessageStatus": status,
        "SmsSid": record.sid or "",
        "SmsStatus": status,
        "To": record.to or "",
    }
    if record.from_:
        fields["From"] = record.from_
    if record.messaging_service_sid:
        fields["MessagingServiceSid"] = record.messaging_service_sid
    if status == "failed" and error_code is not None:
        fields["ErrorCode"] = str(error_code)
    return fields


async def _post_statuses(
    record: TwilioMessageRecord,
    url: str,
    auth_token: str,
    log: RecordLog[StatusCallbackRecord],
    error_code: int | None,
) -> None:
    validator = RequestValidator(auth_token)
    statuses = DELIVERED if error_code is None else FAILED
    async with httpx.AsyncClient(timeout=_TIMEOUT, verify=_tls()) as client:
        for status in statuses:
            fields = _fields(record, status, error_code)
            signature = validator.compute_signature(url, fields)
            entry = StatusCallbackRecord(
                message_sid=record.sid or "",
                status=status,
                url=url,
                params=fields,
                signature=signature,
                sent_at=datetime.now(UTC),
            )
            try:
                answer = await client.post(url, data=fields, headers={SIGNATURE_HEADER: signature})
                entry.response_status = answer.status_code
            except httpx.HTTPError as exc:
                entry.error = type(exc).__name__
                logger.info(
                    "sandbox status callback not delivered",
                    extra={"message_sid": record.sid, "status": status, "error": entry.error},
                )
            log.append(entry)
