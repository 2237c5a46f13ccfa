"""Handling one OutboundMessage: send each part not yet sent, record it, then ack.

Twilio errors decide what happens next: a transient one (rate limit, server error, timeout)
raises, and the consumer loop returns the message to the stream with a growing delay; a
permanent one (a bad number, outside the 24-hour window, ...) goes to the dead-letter stream.
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from twilio.base.exceptions import TwilioRestException

from chatbot_common.contracts import ContractError, OutboundMessage, decode
from chatbot_common.dlq import dead_letter
from chatbot_common.runtime import NatsRuntime

from .deliveries import Deliveries
from .twilio_client import TwilioSender

__all__ = ["SendHandler", "is_transient"]

log = logging.getLogger(__name__)

_TRANSIENT_CODES = frozenset({20429, 63017, 63018})


def is_transient(error: TwilioRestException) -> bool:
    """Whether a Twilio error is worth retrying (rate limits and server-side trouble)."""
    return error.status == 429 or error.status >= 500 or error.code in _TRANSIENT_CODES


class SendHandler:
    """Handles deliveries of the CHAT_OUTBOUND consumer."""

    def __init__(
        self,
        runtime: NatsRuntime,
        deliveries: Deliveries,
        twilio: TwilioSender,
        *,
        publish_timeout: float,
    ) -> None:
        self._js = runtime.js
        self._deliveries = deliveries
        self._twilio = twilio
        self._publish_timeout = publish_timeout

    async def _dead_letter(self, msg: Msg, reason: str, error_code: str | None) -> None:
        await dead_letter(
            self._js,
            msg,
            service="sender",
            reason=reason,
            error_code=error_code,
            timeout=self._publish_timeout,
        )
        await msg.ack()

    async def __call__(self, msg: Msg) -> None:
        try:
            message = decode(OutboundMessage, msg.data)
        except ContractError as exc:
            await self._dead_letter(msg, "malformed", str(exc)[:200])
            return
        if message.kind == "typing":
            await msg.ack()
            return
        parts = [message.body]
        for index, body in enumerate(parts):
            if await self._deliveries.sent_sid(message.idempotency_key, index):
                continue
            try:
                sid = await self._twilio.send(message, body)
            except TwilioRestException as exc:
                if is_transient(exc):
                    raise
                await self._dead_letter(msg, "twilio_rejected", str(exc.code or exc.status))
                return
            await self._deliveries.record(message.idempotency_key, index, sid)
        await msg.ack()
        log.info("reply sent", extra={"idempotency_key": message.idempotency_key})
