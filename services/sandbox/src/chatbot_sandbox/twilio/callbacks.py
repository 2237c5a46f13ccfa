"""Twilio's status callbacks, signed: an accepted message reports ``sent`` then ``delivered`` (or
only ``failed``), never its initial status; ``read`` once a chat client has shown it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx
from twilio.request_validator import RequestValidator

from chatbot_sandbox.posting import BackgroundPoster
from chatbot_sandbox.records import RecordLog
from chatbot_sandbox.twilio.records import StatusCallbackRecord, TwilioMessageRecord

__all__ = ["StatusReporter"]

logger = logging.getLogger(__name__)

_CONNECTIONS = 16
"""Callbacks posted at once: more only queue inside httpx's pool, at a cost in CPU."""


class StatusReporter(BackgroundPoster):
    """Posts status callbacks in the background, one message's in order, over one client."""

    def __init__(self, auth_token: str, log: RecordLog[StatusCallbackRecord]) -> None:
        super().__init__(connections=_CONNECTIONS)
        self._validator = RequestValidator(auth_token)
        self._log = log
        self._slots = asyncio.Semaphore(_CONNECTIONS)
        self._unread: dict[str, tuple[TwilioMessageRecord, asyncio.Task[None]]] = {}

    def report(self, record: TwilioMessageRecord, *, error_code: int | None = None) -> None:
        """Start posting ``record``'s statuses to its StatusCallback URL (if it has one)."""
        if record.status_callback and record.sid:
            statuses = ("sent", "delivered") if error_code is None else ("failed",)
            task = self.start(self._post(record, statuses, error_code))
            if error_code is None:
                self._unread[record.sid] = (record, task)

    def read(self, message_sid: str) -> bool:
        """The user saw the message: post ``read`` after ``delivered``; False if not due."""
        if message_sid not in self._unread:
            return False
        record, delivering = self._unread.pop(message_sid)

        async def after_delivery() -> None:
            await asyncio.wait({delivering})
            await self._post(record, ("read",))

        self.start(after_delivery())
        return True

    async def _post(
        self, record: TwilioMessageRecord, statuses: Sequence[str], error_code: int | None = None
    ) -> None:
        url, sid = record.status_callback or "", record.sid or ""
        for status in statuses:
            fields = {
                "AccountSid": record.account_sid,
                "ApiVersion": "2010-04-01",
                "ChannelPrefix": "whatsapp",
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": record.to or "",
                "From": record.from_ or "",
                "MessagingServiceSid": record.messaging_service_sid or "",
                "ErrorCode": "" if error_code is None else str(error_code),
            }
            fields = {name: value for name, value in fields.items() if value}
            headers = {"X-Twilio-Signature": self._validator.compute_signature(url, fields)}
            entry = StatusCallbackRecord(sid, status, error_code)
            try:
                async with self._slots:
                    answer = await self.client.post(url, data=fields, headers=headers)
                entry.response_status = answer.status_code
            except httpx.HTTPError as exc:
                entry.error = type(exc).__name__
                logger.info(
                    "sandbox status callback not delivered",
                    extra={"message_sid": sid, "status": status, "error": entry.error},
                )
            self._log.append(entry)
