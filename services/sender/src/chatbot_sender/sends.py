"""Handling one OutboundMessage: send each part not yet sent, record it, then ack.

Each part is claimed in CHAT_DELIVERIES before Twilio is called and its SID recorded before the
next, so a redelivery sends only the missing parts, in order; a failure hands the message back
or dead-letters it. Replies to one user stay in order (:mod:`.ordering`, :mod:`.progress`).
docs/sender.md, *One message, step by step*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from chatbot_common.bus import publish
from chatbot_common.contracts import ContractError, OutboundMessage, decode, utcnow
from chatbot_common.dlq import dead_letter
from chatbot_common.provisioning import Provisioner
from chatbot_common.ratelimit import RateLimited
from chatbot_common.topology import OUTBOUND
from chatbot_common.window import WINDOW_CLOSED, WINDOW_CLOSED_CODE
from chatbot_common.worker import redelivery_delay

from .deliveries import Deliveries, RecordUnavailable
from .failures import TwilioFailure
from .metrics import (
    OUTREACH_SENDS,
    RATE_LIMIT_WAIT_SECONDS,
    REPLY_LATENCY_SECONDS,
    REPLY_PARTS,
    SENDS,
    TEMPLATE_FALLBACKS,
)
from .ordering import UserOrder
from .parts import InvalidReply, Part, plan_parts, sender_of
from .progress import Progress
from .ratelimit import RateLimiter
from .twilio_client import Sender, TwilioClient
from .window import reengage_key, reengagement

__all__ = ["TYPING_LIFETIME", "Outcome", "SendHandler"]

log = logging.getLogger(__name__)

_AFTER_HOLD = 0.1
"""Seconds a held-back reply waits beyond the earlier one's retry, so that one goes first."""
_EARLIER_BASE = 0.5
_EARLIER_CAP = 5.0
"""Delays (growing by delivery) of a reply waiting for an earlier one finished elsewhere."""

TYPING_LIFETIME = timedelta(seconds=25)
"""WhatsApp hides a typing indicator after 25 s; an older request would come too late."""


class Outcome(Enum):
    """What became of a reply's delivery, or of one part of it."""

    SENT = "sent"
    """Twilio accepted it, and its SID is recorded."""
    HANDED_BACK = "handed_back"
    """Back to the stream with a delay; this user's later replies wait for it."""
    GIVEN_UP = "given_up"
    """Finished unsent: dead-lettered, or replaced by the re-engagement template."""


@dataclass(frozen=True, slots=True)
class _Reply:
    """A reply in hand: its delivery, its message, and who sends it."""

    msg: Msg
    message: OutboundMessage
    sender: Sender


def _operation(message: OutboundMessage) -> str:
    """The metrics' name of a send: a template, or a free-form message."""
    return "template" if message.kind == "template" else "message"


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
        backoff_max: float,
        reengage_content_sid: str | None,
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
        self._backoff_max = backoff_max
        self._reengage_sid = reengage_content_sid
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

    async def _give_up(
        self, msg: Msg, reason: str, error_code: str, message: OutboundMessage | None = None
    ) -> Outcome:
        """Dead-letter the message, then finish it (an outreach ``message`` counts rejected)."""
        if message is not None and message.outreach:
            OUTREACH_SENDS.labels("rejected").inc()
        await dead_letter(
            self._js,
            msg,
            service="sender",
            reason=reason,
            error_code=error_code,
            timeout=self._publish_timeout,
        )
        await self._finish(msg)
        return Outcome.GIVEN_UP

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

    async def _send_reply(self, msg: Msg, asked: OutboundMessage) -> None:
        message = await self._what_goes_out(msg, asked)
        if message is None:
            return
        try:
            reply = _Reply(msg, message, sender_of(message, self._default_sender))
            parts = plan_parts(message, media=self._media)
        except InvalidReply as invalid:
            await self._give_up(msg, "invalid", invalid.code, message)
            return
        sent = 0
        for part in parts:
            if await self._deliveries.sent_sid(message.idempotency_key, part.index) is not None:
                continue
            if await self._send_part(reply, part) is not Outcome.SENT:
                return
            sent += 1
        REPLY_PARTS.observe(len(parts))
        await self._finish(msg)
        if asked.kind == "reengage":
            TEMPLATE_FALLBACKS.labels("sent" if sent else "skipped").inc()
        if message.outreach:
            OUTREACH_SENDS.labels("sent").inc()
        log.info(
            "reply sent", extra={"idempotency_key": message.idempotency_key, "parts": len(parts)}
        )

    async def _what_goes_out(self, msg: Msg, asked: OutboundMessage) -> OutboundMessage | None:
        """The message itself, or the re-engagement template it asks for; ``None`` when it is
        finished unsent (its window closed, or no template to re-engage with)."""
        if asked.window_closed(utcnow()):
            await self._outside_window(msg, asked, "window_closed")
            return None
        if asked.kind != "reengage":
            return asked
        if self._reengage_sid is None:  # asked for by a failed status callback
            TEMPLATE_FALLBACKS.labels("dead_lettered").inc()
            await self._give_up(msg, "outside_window", "no_template", asked)
            return None
        return asked.model_copy(update={"kind": "template", "content_sid": self._reengage_sid})

    async def _outside_window(self, msg: Msg, message: OutboundMessage, cause: str) -> Outcome:
        """The user's window is closed: ask for the re-engagement template in the message's
        place (the answer stays in the model's context), or keep it in the DLQ without one."""
        WINDOW_CLOSED.labels(cause).inc()
        if self._reengage_sid is None:
            TEMPLATE_FALLBACKS.labels("dead_lettered").inc()
            return await self._give_up(msg, "outside_window", cause, message)
        request = reengagement(OUTBOUND.token(msg.subject), message)
        await publish(
            self._js,
            msg.subject,
            request,
            msg_id=request.idempotency_key,
            timeout=self._publish_timeout,
        )
        if message.outreach:
            OUTREACH_SENDS.labels("reengaged").inc()
        log.info(
            "the user's window is closed; re-engagement asked",
            extra={"idempotency_key": message.idempotency_key, "cause": cause},
        )
        await self._finish(msg)
        return Outcome.GIVEN_UP

    async def _send_part(self, reply: _Reply, part: Part) -> Outcome:
        """Claim, send and record one part, unless it must wait or cannot be sent."""
        msg, message = reply.msg, reply.message
        await _report_progress(msg)
        try:
            waited = await self._limiter.acquire(reply.sender.key)
        except RateLimited as limited:
            return await self._hand_back(msg, limited.delay)
        RATE_LIMIT_WAIT_SECONDS.observe(waited)
        if waited:
            await _report_progress(msg)
        try:
            await self._deliveries.claim(message.idempotency_key, part.index)
        except RecordUnavailable as unavailable:
            return await self._hold_for_the_store(reply, part, unavailable)
        call = asyncio.ensure_future(self._send_and_record(reply, part))
        try:
            await asyncio.shield(call)
        except TwilioFailure as failure:
            return await self._after_failure(reply, part, failure)
        except asyncio.CancelledError:
            # Shutting down mid-call: Twilio may still accept this part. Cut off here, its
            # record would never be written and the part would go out again; so wait for
            # Twilio's answer (TWILIO_TIMEOUT at most) and record it before giving up.
            with contextlib.suppress(Exception):
                await call
            raise
        SENDS.labels(_operation(message), "accepted", "").inc()
        if part.index == 0 and message.received_at is not None:
            REPLY_LATENCY_SECONDS.observe((utcnow() - message.received_at).total_seconds())
        return Outcome.SENT

    async def _send_and_record(self, reply: _Reply, part: Part) -> None:
        """Create one part at Twilio and record its SID (raises TwilioFailure)."""
        message = reply.message
        sid = await self._twilio.send_message(
            to=message.to,
            sender=reply.sender,
            body=part.body,
            media_url=part.media_url,
            content_sid=part.content_sid,
            content_variables=part.content_variables,
            reengage=reengage_key(OUTBOUND.token(reply.msg.subject), message)
            if message.free_form
            else None,
        )
        await self._deliveries.record(message.idempotency_key, part.index, sid)

    async def _hold_for_the_store(
        self, reply: _Reply, part: Part, unavailable: RecordUnavailable
    ) -> Outcome:
        """The part cannot be recorded: send nothing, wait for the store, give up after a bound."""
        msg = reply.msg
        cause = unavailable.__cause__ or unavailable
        self._provisioner.note(cause)
        held = (utcnow() - msg.metadata.timestamp).total_seconds()
        if held > self._record_hold:
            return await self._give_up(
                msg, "record_unavailable", type(cause).__name__, reply.message
            )
        delay = redelivery_delay(msg.metadata.num_delivered, cap=self._backoff_max)
        log.warning(
            "delivery record store refuses writes; the reply waits",
            extra={
                "idempotency_key": reply.message.idempotency_key,
                "part": part.index,
                "error": str(unavailable),
                "delay": delay,
            },
        )
        return await self._hand_back(msg, delay)

    async def _after_failure(self, reply: _Reply, part: Part, failure: TwilioFailure) -> Outcome:
        """Twilio refused the part: give up when it would refuse again, else retry later."""
        msg, message = reply.msg, reply.message
        operation = _operation(message)
        if failure.code == WINDOW_CLOSED_CODE and message.free_form:
            SENDS.labels(operation, "rejected", failure.label).inc()
            return await self._outside_window(msg, message, failure.label)
        if not failure.retryable:
            SENDS.labels(operation, "rejected", failure.label).inc()
            return await self._give_up(msg, "twilio_rejected", failure.label, message)
        SENDS.labels(operation, "retried", failure.label).inc()
        delay = failure.retry_after
        if delay is None:
            delay = redelivery_delay(msg.metadata.num_delivered, cap=self._backoff_max)
        log.warning(
            "twilio send failed; retrying",
            extra={
                "idempotency_key": reply.message.idempotency_key,
                "part": part.index,
                "code": failure.label,
                "delay": delay,
            },
        )
        return await self._hand_back(msg, delay)

    async def _hand_back(self, msg: Msg, delay: float) -> Outcome:
        """Hand the message back for ``delay`` s, holding this user's later replies back."""
        self._order.hold(OUTBOUND.token(msg.subject), msg.metadata.sequence.stream, delay)
        await msg.nak(delay=delay)
        return Outcome.HANDED_BACK
