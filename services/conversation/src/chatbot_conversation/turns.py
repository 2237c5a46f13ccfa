"""Turns, one at a time, while this process holds a user's lease.

A turn answers one segment of the user's mailbox: rate limit, command or model (attachments
first, :mod:`.media`), publish the reply, then commit and ack. Why that order makes the
guarantees, and the bounds on what a turn costs: docs/conversation.md, *A turn*.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from nats.aio.msg import Msg
from opentelemetry.trace import Tracer

from chatbot_common.contracts import utcnow

from .config import ConversationSettings
from .context import recording
from .erasure import Erasure
from .handoff.flow import Handoffs
from .inputs import bounded, command_of
from .lease import Lease
from .limits import check_budget, check_rate, spend_tokens
from .llm import Backend, ModelContext, Said, counting_model_calls
from .mailbox import Entry, FromDesk, Inbound, Mailbox, next_segment, user_messages
from .media.attachments import Attachments, Prepared
from .metrics import (
    BATCH_SIZE,
    LLM_ERRORS,
    OPT_CHANGES,
    TURN_MODEL_CALLS,
    TURN_OVERHEAD_SECONDS,
    TURN_RETRIES,
    TURN_SECONDS,
    TURNS,
)
from .outbox import Outbox, reply_key
from .outcome import TurnOutcome
from .replies import (
    APOLOGY,
    HELP,
    OVER_BUDGET,
    RESET_DONE,
    capped,
    input_too_long,
    rate_limited,
    rate_limited_partly,
    with_notices,
)
from .retry import Failure, ModelCallError
from .state import Address, ConversationState, SeqRange
from .telemetry import turn_span
from .tools import TurnRef

__all__ = ["Stopwatch", "TurnRunner", "seq_range"]

log = logging.getLogger(__name__)


@dataclass
class Stopwatch:
    """A turn's wall time, with the coalescing wait and the model's time kept apart."""

    started: float = field(default_factory=time.perf_counter)
    waiting: float = 0.0
    model: float = 0.0

    def turn_seconds(self) -> float:
        return time.perf_counter() - self.started - self.waiting

    def own_seconds(self) -> float:
        return self.turn_seconds() - self.model


def seq_range(segment: Sequence[Entry]) -> SeqRange:
    """The sequence range a turn answering ``segment`` records as pending."""
    return SeqRange(first=segment[0].seq, last=segment[-1].seq)


class TurnRunner:
    """Runs a user's turns for as long as their mailbox has unanswered messages."""

    def __init__(
        self,
        *,
        mailbox: Mailbox,
        outbox: Outbox,
        backend: Backend,
        attachments: Attachments,
        tracer: Tracer,
        settings: ConversationSettings,
        erasure: Erasure,
        handoffs: Handoffs | None = None,
    ) -> None:
        """``handoffs``: hand users to a person (a desk is set)."""
        self._mailbox = mailbox
        self._erasure = erasure
        self._handoffs = handoffs
        self._outbox = outbox
        self._backend = backend
        self._attachments = attachments
        self._tracer = tracer
        self._model = settings.openai_model
        self._rate_limit = settings.user_rate_limit
        self._budget = settings.user_daily_token_budget
        self._idle = timedelta(seconds=settings.idle_reset_after)
        self._renew_every = min(settings.lease_ttl, settings.inbound_ack_wait) / 3
        self._fence = settings.lease_ttl / 6
        self._max_input = settings.turn_max_input_chars
        self._opt_out, self._opt_in = settings.opt_out_keywords, settings.opt_in_keywords
        self._alone_words = self._opt_out | self._opt_in
        self._opted_out_message = settings.opt_out_message
        self._opted_in_message = settings.opt_in_message
        self._max_reply = settings.reply_max_chars
        self._max_attempts = settings.turn_max_attempts

    async def run(
        self,
        lease: Lease,
        segment: list[Entry],
        rest: list[Entry],
        deliveries: list[Msg],
        *,
        recovering: bool,
        watch: Stopwatch,
    ) -> None:
        """Answer ``segment`` (already pending in the lease), then whatever follows it.

        ``deliveries`` are this user's deliveries in this process's hands (the first is the one
        being served; more may join while turns run): each is acked by the commit answering it.
        """
        own_seq = deliveries[0].metadata.sequence.stream
        try:
            async with lease.kept_alive(deliveries, interval=self._renew_every):
                while segment:
                    outcome, arrived = await self._turn(
                        lease,
                        segment,
                        seen=(rest or segment)[-1].seq,
                        recovering=recovering,
                        watch=watch,
                        delivered_seq=own_seq,
                    )
                    recovering = False
                    batch = rest + arrived
                    await lease.write(
                        outcome.state.model_copy(update={"pending": None}), keep=bool(batch)
                    )
                    if outcome.forget and not batch:
                        await lease.forget()
                    TURNS.labels(outcome.label).inc()
                    TURN_SECONDS.observe(watch.turn_seconds())
                    TURN_OVERHEAD_SECONDS.observe(watch.own_seconds())
                    BATCH_SIZE.observe(len(segment))
                    await _ack_answered(deliveries, outcome.state.last_seq)
                    if not batch:
                        return
                    watch = Stopwatch()
                    batch, watch.waiting = await self._mailbox.coalesce(lease.key, batch)
                    segment, rest = next_segment(
                        batch, max_chars=self._max_input, words=self._alone_words
                    )
                    await lease.write(
                        lease.state.model_copy(update={"pending": seq_range(segment)}), keep=True
                    )
        except BaseException as exc:
            # The range stays pending, with one attempt more counted when it is taken again.
            await lease.abandon(error=type(exc).__name__)
            raise

    async def _turn(
        self,
        lease: Lease,
        segment: list[Entry],
        *,
        seen: int,
        recovering: bool,
        watch: Stopwatch,
        delivered_seq: int,
    ) -> tuple[TurnOutcome, list[Entry]]:
        """Answer ``segment``; the outcome, and the user's messages that arrived after ``seen``.

        The reply is published while the mailbox is read: the two do not depend on each other,
        and a turn's own time is mostly such round trips.
        """
        last = segment[-1].seq
        before = lease.state
        pending = before.pending
        attempt = pending.attempts if pending is not None else 1
        state = before.model_copy(
            update={
                "last_seq": last,
                "turns": before.turns + 1,
                "messages": before.messages + len(segment),
            }
        )
        if attempt > 1:
            TURN_RETRIES.inc()
        with (
            turn_span(
                self._tracer, key=lease.key, segment=segment, delivered_seq=delivered_seq
            ) as span,
            counting_model_calls() as calls,
        ):
            try:
                if recovering and await self._outbox.already_sent(
                    lease.key, reply_key(lease.key, segment)
                ):
                    outcome = TurnOutcome(state, "recovered")
                elif attempt > self._max_attempts:
                    outcome = await self._give_up(lease.key, segment, state, pending)
                elif isinstance(desk := segment[0], FromDesk):
                    outcome = await self._desk_event(lease, desk, state)
                else:
                    assert user_messages(segment)
                    outcome = await self._answer(lease, segment, state, watch)
                span.set_attribute("chatbot.turn.outcome", outcome.label)
                reading = asyncio.create_task(self._mailbox.read(lease.key, after=seen))
                try:
                    await self._say(lease, segment, outcome)
                    if outcome.afterwards is not None:
                        outcome = replace(outcome, state=await outcome.afterwards(outcome.state))
                except BaseException:
                    reading.cancel()
                    raise
                arrived = await reading
            finally:
                # Failed attempts too: a turn that keeps failing shows in this histogram.
                TURN_MODEL_CALLS.observe(calls.count)
        log.info(
            "turn done",
            extra={
                "user_key": lease.key,
                "seq": last,
                "messages": len(segment),
                "outcome": outcome.label,
            },
        )
        return outcome, arrived

    async def _give_up(
        self, key: str, segment: list[Entry], state: ConversationState, pending: SeqRange | None
    ) -> TurnOutcome:
        """The range was attempted as often as allowed: dead-letter it, and apologise to a
        user whose messages these were."""
        tried = pending.attempts - 1 if pending is not None else self._max_attempts
        error = (pending.error if pending is not None else None) or "not_committed"
        log.warning(
            "turn given up after %d attempts (%s)",
            tried,
            error,
            extra={"user_key": key, "seq": segment[-1].seq, "messages": len(segment)},
        )
        await self._outbox.dead_letters(
            segment, reason="turn_attempts_exhausted", error_code=error, attempts=tried
        )
        return TurnOutcome(state, "abandoned", APOLOGY if user_messages(segment) else None)

    async def _desk_event(
        self, lease: Lease, item: FromDesk, state: ConversationState
    ) -> TurnOutcome:
        """An operator's reset or erase, a message the business sent (kept for the model), or a
        desk's event: for the handoff, or ignored when no desk is set (any more)."""
        if item.event.desk == "operator" and item.event.event == "reset":
            return TurnOutcome(state.fresh_conversation(), "operator_reset")
        if item.event.desk == "operator" and item.event.event == "erase":
            return await self._erasure.erase(lease, item, state)
        if item.event.desk == "operator" and item.event.event == "outreach":
            said = Said("assistant", f"[From our team, a message we sent first] {item.event.body}")
            return TurnOutcome(
                state, "outreach_recorded", afterwards=recording(self._backend, lease, [said])
            )
        if self._handoffs is None:
            log.warning("a desk event, but no desk is set", extra={"user_key": lease.key})
            return TurnOutcome(state, "desk_ignored")
        return await self._handoffs.on_event(lease, item, state, utcnow())

    async def _answer(
        self, lease: Lease, segment: Sequence[Inbound], state: ConversationState, watch: Stopwatch
    ) -> TurnOutcome:
        now = utcnow()
        rate, verdict = check_rate(
            state.rate, now=now, messages=len(segment), limit=self._rate_limit
        )
        last = segment[-1].message
        state = state.model_copy(
            update={
                "rate": rate,
                "address": Address.of(last),
                "last_inbound_at": last.received_at,
            }
        )
        if not verdict.admitted:
            answer = rate_limited(self._rate_limit) if verdict.notify else None
            return TurnOutcome(state, "rate_limited", answer)
        # A burst that crossed the limit: the messages within it are answered, and the user
        # is told (once a window) that the rest were not read.
        read = segment[: verdict.admitted]
        notices = [rate_limited_partly(self._rate_limit, verdict.refused)] if verdict.notify else []
        word = segment[0].message.body.strip().casefold()
        if word in self._opt_out:  # honoured first, whoever has the user
            OPT_CHANGES.labels("out").inc()
            opted = state.model_copy(update={"opted_out": True})
            return TurnOutcome(opted, "opted_out", self._opted_out_message)
        if word in self._opt_in:
            OPT_CHANGES.labels("in").inc()
            opted = state.model_copy(update={"opted_out": False})
            return TurnOutcome(opted, "opted_in", self._opted_in_message)
        handoffs = self._handoffs
        if handoffs is not None and state.handoff is not None:
            # Commands too: while a person has the user, everything goes to them.
            return await handoffs.forward(lease, read, state, now)
        command = command_of(segment[0].message)
        if command == "help":
            return TurnOutcome(state, "command", HELP)
        if command == "reset":
            return TurnOutcome(state.fresh_conversation(), "command", RESET_DONE)
        if handoffs is not None and handoffs.asked_for(read):
            return await handoffs.start(lease, read, state, now, reason="keyword")
        budget, spent = check_budget(state.budget, today=now.date(), limit=self._budget)
        state = state.model_copy(update={"budget": budget})
        if not spent.allowed:
            return TurnOutcome(state, "over_budget", OVER_BUDGET if spent.notify else None)
        if self._idle_since(state, now):
            state = state.fresh_conversation()
        return await self._ask_model(lease, segment, read, state, now, watch, notices)

    def _idle_since(self, state: ConversationState, now: datetime) -> bool:
        return (
            self._idle > timedelta(0)
            and state.last_turn_at is not None
            and now - state.last_turn_at > self._idle
        )

    async def _ask_model(
        self,
        lease: Lease,
        segment: Sequence[Inbound],
        read: Sequence[Inbound],
        state: ConversationState,
        now: datetime,
        watch: Stopwatch,
        notices: list[str],
    ) -> TurnOutcome:
        """Answer ``read`` (the segment's messages within the rate limit) with the model.

        The reply answers the whole ``segment``; ``notices`` come first in it.
        """
        typing = asyncio.create_task(
            self._outbox.send(lease.key, self._outbox.typing(lease.key, segment))
        )
        started = time.perf_counter()
        prepared = await self._attachments.prepare(read)
        state = await self._settle_media(prepared, state, now)
        prompts, cut = bounded(prepared.prompts, self._max_input)
        notices = [
            *notices,
            *([input_too_long(self._max_input)] if cut else []),
            *prepared.notices,
        ]
        if not prepared.answerable:
            watch.model += time.perf_counter() - started
            await self._settle(typing, lease.key)
            return TurnOutcome(state, "media_refused", with_notices(notices))
        try:
            pending = lease.state.pending
            turn = TurnRef(
                user_key=lease.key,
                phone=segment[0].message.from_,
                first_seq=segment[0].seq,
                last_seq=segment[-1].seq,
                resumed=pending is not None and pending.attempts > 1,
            )
            reply = await self._backend.reply(
                turn=turn,
                prompts=prompts,
                context=ModelContext(
                    state.conversation_id, state.history, lease.remember_conversation
                ),
            )
            if not reply.text.strip() and reply.handoff is None:
                LLM_ERRORS.labels(self._model, "empty_output").inc()
                raise ModelCallError(Failure("empty_output", retryable=False), attempts=1)
        except ModelCallError as error:
            watch.model += time.perf_counter() - started
            await self._settle(typing, lease.key)
            exhausted = error.failure.retryable
            await self._outbox.dead_letters(
                read,
                reason="llm_retries_exhausted" if exhausted else "llm_failed",
                error_code=error.failure.kind,
                attempts=error.attempts,
            )
            return TurnOutcome(
                state, "gave_up" if exhausted else "failed", with_notices(notices, APOLOGY)
            )
        watch.model += time.perf_counter() - started
        await self._settle(typing, lease.key)
        tokens = reply.usage.input_tokens + reply.usage.output_tokens
        answered = state.model_copy(
            update={
                "conversation_id": reply.conversation_id,
                "history": reply.history,
                "tokens": state.tokens + tokens,
                "budget": spend_tokens(state.budget, today=now.date(), tokens=tokens),
                "last_turn_at": now,
            }
        )
        if reply.handoff is not None and self._handoffs is not None:
            return await self._handoffs.start(
                lease, read, answered, now, reason="model", ask=reply.handoff
            )
        return TurnOutcome(answered, "replied", with_notices(notices, reply.text))

    async def _settle_media(
        self, prepared: Prepared, state: ConversationState, now: datetime
    ) -> ConversationState:
        """Dead-letter the messages whose attachments failed; count the transcription tokens."""
        for failure in prepared.failures:
            await self._outbox.dead_letters(
                [failure.item],
                reason=failure.reason,
                error_code=failure.error_code,
                attempts=failure.attempts,
            )
        if not prepared.tokens:
            return state
        return state.model_copy(
            update={
                "tokens": state.tokens + prepared.tokens,
                "budget": spend_tokens(state.budget, today=now.date(), tokens=prepared.tokens),
            }
        )

    async def _say(self, lease: Lease, segment: list[Entry], outcome: TurnOutcome) -> None:
        """Publish the turn's one answer or message, if any, unless the lease is (about to be)
        lost.

        An answer over ``REPLY_MAX_CHARS`` is cut short (WhatsApp shows 1600 characters a
        message; an answer of more than a few of them helps nobody).
        """
        message = outcome.message
        if message is None and outcome.answer is not None:
            assert user_messages(segment)
            body = capped(outcome.answer, self._max_reply)
            message = self._outbox.text(lease.key, segment, body)
        if message is None:
            return
        lease.check(self._fence)
        # The sender checks the window against the moment it sends (docs/outreach.md).
        opened = outcome.state.last_inbound_at
        await self._outbox.send(lease.key, message.model_copy(update={"window_opened_at": opened}))

    @staticmethod
    async def _settle(typing: asyncio.Task[None], key: str) -> None:
        """Wait for the typing request; it is a courtesy, so its failure fails nothing."""
        try:
            await typing
        except Exception as exc:
            log.warning(
                "typing request not published (%s)", type(exc).__name__, extra={"user_key": key}
            )


async def _ack_answered(deliveries: list[Msg], last_seq: int) -> None:
    """Ack the deliveries whose message a commit up to ``last_seq`` answered."""
    for delivery in deliveries:
        if not delivery.is_acked and delivery.metadata.sequence.stream <= last_seq:
            await delivery.ack()
