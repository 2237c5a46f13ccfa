"""Twilio's status callbacks, imitated for every message the fake Twilio API accepts.

Twilio reports a message's progress to the StatusCallback URL given when it was created. The
sandbox does the same, so ingress's ``/twilio/status`` and everything behind it run in tests
and ``make run``: each accepted message reports ``sent``, ``delivered`` and ``read``, or only
``failed`` with an ErrorCode when a fault asked for a failed delivery. Like Twilio, no callback
reports the initial status (``queued``, or ``accepted`` with a Messaging Service), which the
create's answer already gave. Each callback is posted like Twilio's: form-encoded, one after
the other, signed with ``X-Twilio-Signature`` computed by the twilio SDK's RequestValidator
over the exact callback URL and fields, with the auth token the sandbox accepts.
``SANDBOX_STATUS_CALLBACKS=false`` turns them off. The posts run in the background: the create
is answered first, as Twilio does.
One keep-alive HTTP client serves every callback for the sandbox's lifetime: a client (and a
connection) per message cost the sandbox and ingress more CPU than the callbacks themselves.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
from twilio.request_validator import RequestValidator

from chatbot_sandbox.store import RecordLog, TwilioMessageRecord
from chatbot_sandbox.twilio_records import StatusCallbackRecord

__all__ = ["DELIVERED", "FAILED", "SIGNATURE_HEADER", "StatusReporter"]

logger = logging.getLogger(__name__)

DELIVERED = ("sent", "delivered", "read")
FAILED = ("failed",)
SIGNATURE_HEADER = "X-Twilio-Signature"
_TIMEOUT = 5.0
_CONNECTIONS = 16
"""Callbacks posted at once. More would only queue inside httpx's pool, whose bookkeeping grows
with its queue: hundreds of waiting posts cost more CPU than the posts themselves."""


class StatusReporter:
    """Posts the status callbacks of accepted messages, in the background, over one client."""

    def __init__(self, auth_token: str, log: RecordLog[StatusCallbackRecord]) -> None:
        self._validator = RequestValidator(auth_token)
        self._log = log
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(_CONNECTIONS)
        # Running callback tasks, referenced until done so the event loop does not drop them.
        self._running: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """Cancel the callbacks still being posted and close the client."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def report(self, record: TwilioMessageRecord, *, error_code: int | None = None) -> None:
        """Start posting ``record``'s statuses to its StatusCallback URL (if it has one)."""
        if not record.status_callback or not record.sid:
            return
        if self._client is None:  # opened on first use, inside the event loop that uses it
            self._client = httpx.AsyncClient(
                timeout=_TIMEOUT,
                limits=httpx.Limits(
                    max_connections=_CONNECTIONS, max_keepalive_connections=_CONNECTIONS
                ),
            )
        task = asyncio.create_task(
            self._post_statuses(self._client, record, record.status_callback, error_code),
            name=f"status-callbacks-{record.sid}",
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _post_statuses(
        self,
        client: httpx.AsyncClient,
        record: TwilioMessageRecord,
        url: str,
        error_code: int | None,
    ) -> None:
        for status in DELIVERED if error_code is None else FAILED:
            fields = _fields(record, status, error_code)
            signature = self._validator.compute_signature(url, fields)
            entry = StatusCallbackRecord(
                message_sid=record.sid or "",
                status=status,
                url=url,
                params=fields,
                signature=signature,
                sent_at=datetime.now(UTC),
            )
            try:
                async with self._slots:
                    answer = await client.post(
                        url, data=fields, headers={SIGNATURE_HEADER: signature}
                    )
                entry.response_status = answer.status_code
            except httpx.HTTPError as exc:
                entry.error = type(exc).__name__
                logger.info(
                    "sandbox status callback not delivered",
                    extra={"message_sid": record.sid, "status": status, "error": entry.error},
                )
            self._log.append(entry)


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
