"""Handling one OutboundMessage: send each part not yet sent, record it, then ack.

Each part is claimed in CHAT_DELIVERIES before Twilio is called (a store that refuses writes
holds the reply back, up to DELIVERY_RECORD_HOLD), and its SID recorded once Twilio accepts it,
before the next is sent and before the message is acked, so a redelivery (after a crash, a retry
or a rate-limit pause) sends only the parts still missing, in order. A shutdown never cuts a
Twilio call off: the call and its record finish before the message is handed back. Twilio's
answer decides what happens after a failure (:mod:`chatbot_sender.failures`): a retryable one
returns the message to the stream with a delay, Retry-After when Twilio gave one and otherwise
the consumer's growing delay; a permanent one goes to the dead-letter stream. Either way the
handler returns at once, so one user's trouble never holds a slot that other users' replies
need.

Replies to one user go out in stream order: inside a replica :mod:`chatbot_sender.ordering`
keeps them so, and across replicas and restarts :mod:`chatbot_sender.progress` holds a reply
back while an earlier one to the same user is not finished.

Typing indicators are best effort: one that fails, or would arrive after WhatsApp hides it
anyway, is dropped rather than retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from chatbot_common.contracts import ContractError, OutboundMessage, decode, utcnow
from chatbot_common.dlq import dead_letter
from chatbot_common.provisioning import Provisioner
from chatbot_common.topology import OUTBOUND
from chatbot_common.worker import redelivery_delay

from .deliveries import Deliveries, RecordUnavailable
from .failures import TwilioFailure
from .metrics import (
    RATE_LIMIT_WAIT_SECONDS,
    REPLY_LATENCY_SECONDS,
    REPLY_PARTS,
    SENDS,
)
from .ordering import UserOrder
from .parts import InvalidReply, Part, plan_parts, sender_of
from .progress import Progress
from .ratelimit import RateLimited, RateLimiter
from .twilio_client import Sender, TwilioClient

__all__ = ["TYPING_LIFETIME", "SendHandler"]

log = logging.getLogger(__name__)

_AFTER_HOLD = 0.1
"""Seconds a held-back reply waits beyond the earlier one's retry, so that one goes first."""
_EARLIER_BASE = 0.5
_EARLIER_CAP = 5.0
"""Delays (growing by delivery) of a reply waiting for an earlier one finished elsewhere."""

TYPING_LIFETIME = timedelta(seconds=25)
"""WhatsApp hides a typing indicator after 25 s; an older request would come too late."""


async def _report_progress(msg: Msg) -> None:
    """Restart the message's ack wait (best effort: at worst NATS redelivers it early)."""
    with contextlib.suppress(NatsError):
        await msg.in_progress()


class SendHandler:
    """Handles deliveries of the CHAT_OUTBOUND consumer."""

    def __init__(
        self,
        *,
        js: JetStreamContext,
        deliveries: Deliveries,
        progress: Progress,
        twilio: TwilioClient,
        limiter: RateLimiter,
        default_sender: Sender,
        media: bool,
        typing: bool,
        publish_timeout: float,
        record_hold: float,
        provisioner: Provisioner,
    ) -> None:
        self._js = js
        self._deliveries = deliveries
        self._progress = progress
        self._twilio = twilio
        self._limiter = limiter
        self._default_sender = default_sender
        self._media = media
        self._typing = typing
        self._publish_timeout = publish_timeout
        self._record_hold = record_hold
        self._provisioner = provisioner
        self._order = UserOrder()

    async def __call__(self, msg: Msg) -> None:
        # The consumer loop already runs this inside a span that continues the message's trace.
        key, seq = OUTBOUND.token(msg.subject), msg.metadata.sequence.stream
        async with self._order.turn(key):
            if wait := self._order.wait_before(key, seq):
                # An earlier reply to this user is waiting for its retry: go after it.
                await msg.nak(delay=wait + _AFTER_HOLD)
                return
            try:
                message = decode(OutboundMessage, msg.data)
            except ContractError as exc:
                await self._give_up(msg, "malformed", str(exc)[:200])
                return
            if message.kind == "typing":
                await self._show_typing(msg, message)
            elif await self._progress.earlier_unfinished(key, seq) is not None:
                # An earlier reply to this user is in another replica's hands, or waits for
                # its redelivery after a crash: go after it.
                delay = redelivery_delay(
                    msg.metadata.num_delivered, base=_EARLIER_BASE, cap=_EARLIER_CAP
                )
                await msg.nak(delay=delay)
            else:
                await self._send_reply(msg, message)

    async def _give_up(self, msg: Msg, reason: str, error_code: str) -> None:
        await dead_letter(
            self._js,
            msg,
            service="sender",
            reason=reason,
            error_code=error_code,
            timeout=self._publish_timeout,
        )
        await self._finish(msg)

    async def _finish(self, msg: Msg) -> None:
        """Record the reply as finished (sent or given up), then ack it."""
        key, seq = OUTBOUND.token(msg.subject), msg.metadata.sequence.stream
        await self._progress.finish(key, seq)
        await msg.ack()
        self._order.done(key, seq)

    async def _show_typing(self, msg: Msg, message: OutboundMessage) -> None:
        if not self._typing:
            SENDS.labels("typing", "skipped", "disabled").inc()
        elif utcnow() - msg.metadata.timestamp > TYPING_LIFETIME:
            SENDS.labels("typing", "skipped", "stale").inc()
        else:
            try:
                await self._twilio.send_typing(message.in_reply_to[-1])
                SENDS.labels("typing", "accepted", "").inc()
            except TwilioFailure as failure:
                SENDS.labels("typing", "rejected", failure.label).inc()
                log.info(
                    "typing indicator not shown",
                    extra={"idempotency_key": message.idempotency_key, "code": failure.label},
                )
        await msg.ack()

    async def _send_reply(self, msg: Msg, message: OutboundMessage) -> None:
        try:
            sender = sender_of(message, self._default_sender)
            parts = plan_parts(message, media=self._media)
        except InvalidReply as invalid:
            await self._give_up(msg, "invalid", invalid.code)
            return
        for part in parts:
            if await self._deliveries.sent_sid(message.idempotency_key, part.index) is not None:
                continue
            if not await self._send_part(msg, message, sender, part):
                return
        REPLY_PARTS.observe(len(parts))
        await self._finish(msg)
        log.info(
            "reply sent", extra={"idempotency_key": message.idempotency_key, "parts": len(parts)}
        )

    async def _send_part(
        self, msg: Msg, message: OutboundMessage, sender: Sender, part: Part
    ) -> bool:
        """Send and record one part; ``False`` when the message was handed back or given up."""
        await _report_progress(msg)
        try:
            waited = await self._limiter.acquire(sender.key)
        except RateLimited as limited:
            await self._retry_later(msg, limited.delay)
            return False
        RATE_LIMIT_WAIT_SECONDS.observe(waited)
        if waited:
            await _report_progress(msg)
        try:
            await self._deliveries.claim(message.idempotency_key, part.index)
        except RecordUnavailable as unavailable:
            await self._hold_for_the_store(msg, message, part, unavailable)
            return False
        call = asyncio.ensure_future(self._send_and_record(message, sender, part))
        try:
            await asyncio.shield(call)
        except TwilioFailure as failure:
            await self._after_failure(msg, message, part, failure)
            return False
        except asyncio.CancelledError:
            # Shutting down mid-call: Twilio may still accept this part. Cut off here, its
            # record would never be written and the part would go out again; so wait for
            # Twilio's answer (TWILIO_TIMEOUT at most) and record it before giving up.
            with contextlib.suppress(Exception):
                await call
            raise
        SENDS.labels("message", "accepted", "").inc()
        if part.index == 0 and message.received_at is not None:
            REPLY_LATENCY_SECONDS.observe((utcnow() - message.received_at).total_seconds())
        return True

    async def _send_and_record(self, message: OutboundMessage, sender: Sender, part: Part) -> None:
        """Create one part at Twilio and record its SID (raises TwilioFailure)."""
        sid = await self._twilio.send_message(
            to=message.to, sender=sender, body=part.body, media_url=part.media_url
        )
        await self._deliveries.record(message.idempotency_key, part.index, sid)

    async def _hold_for_the_store(
        self, msg: Msg, message: OutboundMessage, part: Part, unavailable: RecordUnavailable
    ) -> None:
        """The part cannot be recorded: send nothing, wait for the store, give up after a bound."""
        cause = unavailable.__cause__ or unavailable
        self._provisioner.note(cause)
        held = (utcnow() - msg.metadata.timestamp).total_seconds()
        if held > self._record_hold:
            await self._give_up(msg, "record_unavailable", type(cause).__name__)
            return
        delay = redelivery_delay(msg.metadata.num_delivered)
        log.warning(
            "delivery record store refuses writes; the reply waits",
            extra={
                "idempotency_key": message.idempotency_key,
                "part": part.index,
                "error": str(unavailable),
                "delay": delay,
            },
        )
        await self._retry_later(msg, delay)

    async def _after_failure(
        self, msg: Msg, message: OutboundMessage, part: Part, failure: TwilioFailure
    ) -> None:
        if not failure.retryable:
            SENDS.labels("message", "rejected", failure.label).inc()
            await self._give_up(msg, "twilio_rejected", failure.label)
            return
        SENDS.labels("message", "retried", failure.label).inc()
        delay = failure.retry_after
        if delay is None:
            delay = redelivery_delay(msg.metadata.num_delivered)
        log.warning(
            "twilio send failed; retrying",
            extra={
                "idempotency_key": message.idempotency_key,
                "part": part.index,
                "code": failure.label,
                "delay": delay,
            },
        )
        await self._retry_later(msg, delay)

    async def _retry_later(self, msg: Msg, delay: float) -> None:
        """Hand the message back for ``delay`` s, holding this user's later replies back."""
        self._order.hold(OUTBOUND.token(msg.subject), msg.metadata.sequence.stream, delay)
        await msg.nak(delay=delay)
