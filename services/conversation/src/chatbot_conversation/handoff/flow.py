"""The turns of a handoff: into it, the user's messages to the person, the person's to the
user, and back to the bot (docs/handoff.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from ..config import ConversationSettings
from ..context import recording
from ..inputs import text_prompt
from ..lease import Lease
from ..limits import spend_tokens
from ..llm import Backend, Said
from ..mailbox import Entry, FromDesk, Inbound, user_messages
from ..media.attachments import Attachments
from ..outbox import Outbox, reply_key
from ..outcome import TurnOutcome
from ..replies import DESK_SLOW, DESK_UNAVAILABLE, capped
from ..retry import ModelCallError
from ..state import Address, ConversationState, Handoff
from .desk import Desk, DeskError, DeskUser, Forwarded
from .metrics import (
    DESK_ERRORS,
    DESK_EVENTS_IGNORED,
    FORWARDED,
    HANDOFF_SECONDS,
    HANDOFFS_ENDED,
    HANDOFFS_STARTED,
)
from .tool import HandoffAsk
from .waiting import HandoffIndex

__all__ = ["Handoffs"]

log = logging.getLogger(__name__)

type StartReason = Literal["keyword", "model", "operator"]
type EndReason = Literal["resolved", "pending", "idle", "operator"]


class Handoffs:
    """Hands users to a person at the desk and back, one turn at a time, under the lease."""

    def __init__(
        self,
        *,
        desk: Desk,
        index: HandoffIndex,
        attachments: Attachments,
        backend: Backend,
        outbox: Outbox,
        settings: ConversationSettings,
    ) -> None:
        self._desk = desk
        self._index = index
        self._attachments = attachments
        self._backend = backend
        self._outbox = outbox
        self._keywords = settings.handoff_keywords
        self._message = settings.handoff_message
        self._return_message = settings.handoff_return_message
        self._idle = timedelta(seconds=settings.handoff_idle_timeout)
        self._context = settings.handoff_context_messages
        self._max_reply = settings.reply_max_chars

    def asked_for(self, segment: Sequence[Inbound]) -> bool:
        """Whether a message of ``segment`` is, whole, one of HANDOFF_KEYWORDS."""
        return any(item.message.body.strip().casefold() in self._keywords for item in segment)

    async def start(
        self,
        lease: Lease,
        segment: Sequence[Entry],
        state: ConversationState,
        now: datetime,
        *,
        reason: StartReason,
        ask: HandoffAsk | None = None,
    ) -> TurnOutcome:
        """Open a conversation at the desk for the user, and tell them a person will answer.

        The person's note holds the model's reason and summary (when it asked) and the chat's
        last messages. ``state.address`` says where the user is (their latest turn's).
        """
        address = _address(state)
        number = address.user.removeprefix("whatsapp:")
        user = DeskUser(
            user_key=lease.key,
            wa_id=number.removeprefix("+"),
            phone=number,
            name=address.name or "WhatsApp user",
        )
        said = []
        if reason == "keyword" and user_messages(segment):
            said = [Said("user", text_prompt(item.message).text) for item in segment]
        try:
            earlier = await self._backend.recent(
                conversation_id=state.conversation_id, history=state.history, limit=self._context
            )
        except ModelCallError:
            earlier = []  # the note goes without them
        try:
            note = _note(reason, ask, [*earlier, *said])
            conversation = await self._desk.open(user, note, ref=reply_key(lease.key, segment))
        except DeskError as error:
            return await self._failed(lease.key, segment, state, "open", error)
        HANDOFFS_STARTED.labels(reason).inc()
        handoff = Handoff(
            desk_conversation=conversation,
            since=now,
            reason=reason,
            waiting_since=now,
        )
        # Kept at once, as a new conversation is: a re-run after a crash then forwards to the
        # conversation just opened instead of opening another.
        await lease.write(lease.state.model_copy(update={"handoff": handoff}), keep=True)
        await self._index.put(lease.key, handoff)
        handed = state.model_copy(update={"handoff": handoff, "last_turn_at": now})
        context = recording(self._backend, lease, [*said, Said("assistant", self._message)])
        if user_messages(segment):  # the answer to what they wrote
            return TurnOutcome(handed, "handed_off", self._message, afterwards=context)
        told = self._outbox.to_user(lease.key, segment, address, self._message)
        return TurnOutcome(handed, "handed_off", message=told, afterwards=context)

    async def forward(
        self, lease: Lease, segment: Sequence[Inbound], state: ConversationState, now: datetime
    ) -> TurnOutcome:
        """Pass the user's messages to the person who has them, a voice note as its transcript
        and its audio, a photo as a file; the model is not asked."""
        handoff = state.handoff
        assert handoff is not None
        prepared = await self._attachments.prepare(segment)
        messages = [
            Forwarded(item.message.message_sid, prompt.text, files)
            for item, prompt, files in zip(segment, prepared.prompts, prepared.files, strict=True)
        ]
        try:
            pending = lease.state.pending
            again = pending is not None and pending.attempts > 1  # an earlier run may have posted
            posted = await self._desk.forward(handoff.desk_conversation, messages, again=again)
        except DeskError as error:
            return await self._failed(lease.key, segment, state, "forward", error)
        FORWARDED.labels("to_desk").inc(posted)
        if prepared.tokens:  # voice notes' transcriptions
            state = state.model_copy(
                update={
                    "tokens": state.tokens + prepared.tokens,
                    "budget": spend_tokens(state.budget, today=now.date(), tokens=prepared.tokens),
                }
            )
        handoff = handoff.model_copy(
            update={"waiting_since": handoff.waiting_since or now, "desk_down_told": False}
        )
        await self._index.put(lease.key, handoff)
        context = recording(self._backend, lease, [Said("user", m.text) for m in messages])
        forwarded = state.model_copy(update={"handoff": handoff})
        return TurnOutcome(forwarded, "forwarded", afterwards=context)

    async def on_event(
        self, lease: Lease, item: FromDesk, state: ConversationState, now: datetime
    ) -> TurnOutcome:
        """A desk's event: a person's message to the user, a hand-back (the desk's, or an
        operator's), or an idle check."""
        event = item.event
        handoff = state.handoff
        if event.event == "handoff":
            if handoff is not None or state.address is None:  # with a person, or never wrote
                DESK_EVENTS_IGNORED.labels(event.event).inc()
                return TurnOutcome(state, "desk_ignored")
            return await self.start(lease, [item], state, now, reason="operator")
        ours = event.desk in ("timer", "operator")  # about the user, whatever the desk
        if handoff is None or (not ours and event.conversation != handoff.desk_conversation):
            DESK_EVENTS_IGNORED.labels(event.event).inc()
            if handoff is None:
                await self._index.remove(lease.key)  # left by a crash, if anything
            return TurnOutcome(state, "desk_ignored")
        if event.event == "handback":
            reason: EndReason = "pending" if event.status == "pending" else "resolved"
            if event.desk == "operator":
                reason = "operator"
            return await self.end(lease, [item], state, now, reason=reason)
        if event.event == "idle_check":
            if now - handoff.quiet_since < self._idle or self._idle <= timedelta(0):
                return TurnOutcome(state, "desk_ignored")
            return await self.end(lease, [item], state, now, reason="idle")
        body = capped(event.body, self._max_reply) if event.body.strip() else ""
        message = self._outbox.to_user(lease.key, [item], _address(state), body, event.media_urls)
        FORWARDED.labels("to_user").inc()
        handoff = handoff.model_copy(update={"last_agent_at": now, "waiting_since": None})
        await self._index.put(lease.key, handoff)
        who = f"[{event.agent or 'A person'}, from our team] "
        context = recording(self._backend, lease, [Said("assistant", who + (body or "(media)"))])
        after = state.model_copy(update={"handoff": handoff, "last_turn_at": now})
        return TurnOutcome(after, "agent_message", message=message, afterwards=context)

    async def end(
        self,
        lease: Lease,
        segment: Sequence[FromDesk],
        state: ConversationState,
        now: datetime,
        *,
        reason: EndReason,
    ) -> TurnOutcome:
        """Hand the user back to the bot, tell them, and keep the moment in the model's context.

        Ended by us (idle, an operator), the desk's conversation is resolved with a note.
        """
        handoff = state.handoff
        assert handoff is not None
        if reason in ("idle", "operator"):
            why = "no reply from our team for a while" if reason == "idle" else "an operator"
            try:
                await self._desk.close(handoff.desk_conversation, f"Handed back to the bot: {why}.")
            except DeskError as error:  # the user is handed back all the same
                DESK_ERRORS.labels("close").inc()
                log.warning("the desk failed: %s", error, extra={"user_key": lease.key})
        HANDOFFS_ENDED.labels(reason).inc()
        HANDOFF_SECONDS.observe((now - handoff.since).total_seconds())
        # Kept at once: a successor that finds the message sent commits what the lease holds.
        await lease.write(lease.state.model_copy(update={"handoff": None}), keep=True)
        await self._index.remove(lease.key)
        message = self._outbox.to_user(lease.key, segment, _address(state), self._return_message)
        back = state.model_copy(update={"handoff": None, "last_turn_at": now})
        context = recording(self._backend, lease, [Said("assistant", self._return_message)])
        return TurnOutcome(back, "handed_back", message=message, afterwards=context)

    async def _failed(
        self,
        key: str,
        segment: Sequence[Entry],
        state: ConversationState,
        operation: Literal["open", "forward"],
        error: DeskError,
    ) -> TurnOutcome:
        """The desk did not take the messages (after the retries): dead-letter them, and tell
        the user, once while the desk stays down."""
        DESK_ERRORS.labels(operation).inc()
        log.warning("the desk failed: %s", error, extra={"user_key": key})
        await self._outbox.dead_letters(
            segment, reason="desk_unavailable", error_code=operation, attempts=1
        )
        handoff = state.handoff
        if handoff is None:  # the user asked (an operator's hand-off has its dead letter)
            answer = DESK_UNAVAILABLE if user_messages(segment) else None
            return TurnOutcome(state, "desk_failed", answer)
        if handoff.desk_down_told:
            return TurnOutcome(state, "desk_failed")
        told = handoff.model_copy(update={"desk_down_told": True})
        return TurnOutcome(state.model_copy(update={"handoff": told}), "desk_failed", DESK_SLOW)


def _address(state: ConversationState) -> Address:
    """Where the user's chat is: a handoff starts only for a user who wrote, so it is known."""
    assert state.address is not None
    return state.address


def _note(reason: StartReason, ask: HandoffAsk | None, said: Sequence[Said]) -> str:
    """The private note that opens a handoff at the desk."""
    lines = {
        "keyword": ["The user asked for a person."],
        "model": ["The assistant handed the user over."],
        "operator": ["An operator handed the user over."],
    }[reason]
    if ask is not None:
        lines += [f"Reason: {ask.reason}", f"Summary: {ask.summary}"]
    if said:
        who = {"user": "User", "assistant": "Assistant"}
        lines += ["", "Last messages:", *(f"{who[line.role]}: {line.text}" for line in said)]
    return "\n".join(lines)
