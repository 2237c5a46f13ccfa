"""What happens to each delivery of the shared CHAT_INBOUND consumer.

From the user's state: ack a message already answered, give it back while another replica
holds the lease, hand it to this process's running turn of the user, or gather the user's
unanswered messages, take the lease and run turns (:mod:`.turns`). docs/conversation.md,
*A delivery, step by step*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from enum import Enum

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from chatbot_common.contracts import ContractError, decode_user_inbound, utcnow
from chatbot_common.dlq import dead_letter
from chatbot_common.topology import INBOUND
from chatbot_common.worker import redelivery_delay

from .config import ConversationSettings
from .lease import Lease
from .mailbox import Entry, Mailbox, next_segment
from .metrics import LEASE_CONTENTION, TURNS_IN_FLIGHT
from .outbox import SERVICE
from .state import ConversationState, SeqRange, StateConflictError, StateStore, StoredState
from .turns import Stopwatch, TurnRunner, seq_range

__all__ = ["Outcome", "TurnHandler"]

log = logging.getLogger(__name__)

_RACES = 3
"""Times a delivery re-reads the state after losing a race before it gives the message back."""
_MAX_WAITING = 10
"""Deliveries of one user that may wait for that user's running turns; the rest are given back."""
_RETRY_BASE = 0.5
_RETRY_CAP = 5.0


class Outcome(Enum):
    """What one attempt at serving a user's messages came to."""

    ANSWERED = "answered"
    """Turns ran: each delivery taken along is acked by the commit that answers it."""
    LOOK_AGAIN = "look_again"
    """Another writer moved the state first, or nothing was readable: read the state again."""


@dataclass
class _Serving:
    """This process at work on one user's messages, and the deliveries it takes along.

    The first delivery is the one being served; the others came while it was.
    """

    deliveries: list[Msg]
    finished: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class _Claim:
    """A user this process serves: the state it read, and the deliveries it answers."""

    key: str
    stored: StoredState
    deliveries: list[Msg]
    watch: Stopwatch

    @property
    def state(self) -> ConversationState:
        return self.stored.state

    def unanswered_through(self, last: int) -> SeqRange:
        """The messages after the last answered one, through ``last``."""
        return SeqRange(first=self.state.last_seq + 1, last=last)

    def with_lost_range_skipped(self) -> ConversationState:
        """The state with its pending range counted as answered, and no lease."""
        pending = self.state.pending
        assert pending is not None
        return self.state.model_copy(
            update={
                "last_seq": max(self.state.last_seq, pending.last),
                "pending": None,
                "lease": None,
            }
        )


class TurnHandler:
    """The CHAT_INBOUND consumer's handler."""

    def __init__(
        self,
        *,
        js: JetStreamContext,
        store: StateStore,
        mailbox: Mailbox,
        turns: TurnRunner,
        settings: ConversationSettings,
    ) -> None:
        self._js = js
        self._store = store
        self._mailbox = mailbox
        self._turns = turns
        self._lease_ttl = settings.lease_ttl
        self._publish_timeout = settings.nats_publish_timeout
        self._max_input = settings.turn_max_input_chars
        self._alone_words = settings.opt_out_keywords | settings.opt_in_keywords
        self._owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._serving: dict[str, _Serving] = {}

    async def __call__(self, msg: Msg) -> None:
        try:
            decode_user_inbound(msg.data)
        except ContractError as exc:
            await dead_letter(
                self._js,
                msg,
                service=SERVICE,
                reason="malformed",
                error_code=str(exc)[:200],
                timeout=self._publish_timeout,
            )
            await msg.ack()
            return
        key = INBOUND.token(msg.subject)
        while (running := self._serving.get(key)) is not None:
            # This process is already gathering or answering this user's messages: they take
            # this delivery along, and ack it with the commit that answers it.
            if sum(not waiting.is_acked for waiting in running.deliveries[1:]) >= _MAX_WAITING:
                # A flood from one user must not fill the slots other users' turns need.
                await self._give_back(msg)
                return
            LEASE_CONTENTION.inc()
            running.deliveries.append(msg)
            await running.finished.wait()
            if msg.is_acked:
                return
        serving = _Serving([msg])
        self._serving[key] = serving
        try:
            await self._serve(key, serving.deliveries)
        finally:
            del self._serving[key]
            serving.finished.set()

    async def _serve(self, key: str, deliveries: list[Msg]) -> None:
        msg = deliveries[0]
        seq = msg.metadata.sequence.stream
        watch = Stopwatch()
        # Whether anything followed this message is looked up while the state loads: when
        # nothing did, the mailbox read ends at this message, one round trip sooner.
        stored, following = await asyncio.gather(
            self._store.load(key), self._mailbox.read(key, after=seq, limit=1)
        )
        last_known: int | None = None if following else seq
        for attempt in range(_RACES):
            if attempt > 0:
                stored = await self._store.load(key)
            claim = _Claim(key, stored, deliveries, watch)
            if seq <= claim.state.last_seq:
                await msg.ack()
                return
            if claim.state.leased_at(utcnow()):
                await self._give_back(msg)
                return
            with TURNS_IN_FLIGHT.track_inprogress():
                if await self._answer(claim, last_known) is Outcome.ANSWERED:
                    return
            last_known = None
        await self._give_back(msg)

    async def _answer(self, claim: _Claim, last_known: int | None) -> Outcome:
        """Gather the user's unanswered messages and run turns.

        ``last_known`` is the user's latest message when that is known (None: not known).
        """
        key, pending = claim.key, claim.state.pending
        if pending is not None:
            # Its holder died mid-turn: answer exactly that range first.
            segment = await self._mailbox.read(key, after=pending.first - 1, through=pending.last)
            if not segment:
                await self._skip_lost_range(claim)
                return Outcome.LOOK_AGAIN
            return await self._lease_and_run(claim, segment, [], recovering=True)
        if last_known is not None and not self._mailbox.coalesces:
            return await self._lease_while_reading(claim, claim.unanswered_through(last_known))
        batch = await self._mailbox.read(key, after=claim.state.last_seq, through=last_known)
        batch, waited = await self._mailbox.coalesce(key, batch)
        claim.watch.waiting += waited
        segment, rest = next_segment(batch, max_chars=self._max_input, words=self._alone_words)
        if not segment:
            return Outcome.LOOK_AGAIN  # not readable (any more)
        return await self._lease_and_run(claim, segment, rest, recovering=False)

    async def _lease_while_reading(self, claim: _Claim, window: SeqRange) -> Outcome:
        """Take the lease for ``window`` while reading its messages, then run turns.

        With nothing to wait for and the range known, this saves a round trip per turn. A
        pending range is answered as one turn by whoever recovers it, so ``window`` is the
        right ``pending`` when its messages make one segment; when a command cuts it, pending
        is narrowed to the first segment before the turn starts.
        """
        taking = asyncio.create_task(self._take_lease(claim, window))
        try:
            batch = await self._mailbox.read(claim.key, after=window.first - 1, through=window.last)
        except BaseException:
            await _abandon_once_taken(taking)
            raise
        try:
            lease = await taking
        except StateConflictError:
            LEASE_CONTENTION.inc()
            return Outcome.LOOK_AGAIN
        segment, rest = next_segment(batch, max_chars=self._max_input, words=self._alone_words)
        if not segment:
            await lease.abandon()  # the next look answers or skips the range
            return Outcome.LOOK_AGAIN
        if rest:
            try:
                await lease.write(
                    lease.state.model_copy(update={"pending": seq_range(segment)}), keep=True
                )
            except BaseException:
                await lease.abandon()
                raise
        return await self._run(claim, lease, segment, rest, recovering=False)

    async def _skip_lost_range(self, claim: _Claim) -> None:
        """Commit a pending range the stream no longer holds (older than its max age)."""
        log.warning("pending messages are gone from the stream", extra={"user_key": claim.key})
        with contextlib.suppress(StateConflictError):
            await self._store.save(
                claim.key, claim.with_lost_range_skipped(), revision=claim.stored.revision
            )

    async def _lease_and_run(
        self, claim: _Claim, segment: list[Entry], rest: list[Entry], *, recovering: bool
    ) -> Outcome:
        """Take the lease and run turns; look again when another writer got there first."""
        pending = (claim.state.pending if recovering else None) or seq_range(segment)
        try:
            lease = await self._take_lease(claim, pending)
        except StateConflictError:
            LEASE_CONTENTION.inc()
            return Outcome.LOOK_AGAIN
        return await self._run(claim, lease, segment, rest, recovering=recovering)

    async def _run(
        self,
        claim: _Claim,
        lease: Lease,
        segment: list[Entry],
        rest: list[Entry],
        *,
        recovering: bool,
    ) -> Outcome:
        await self._turns.run(
            lease, segment, rest, claim.deliveries, recovering=recovering, watch=claim.watch
        )
        return Outcome.ANSWERED

    async def _take_lease(self, claim: _Claim, pending: SeqRange) -> Lease:
        return await Lease.take(
            self._store,
            claim.key,
            claim.stored,
            owner=self._owner,
            ttl=self._lease_ttl,
            pending=pending,
        )

    @staticmethod
    async def _give_back(msg: Msg) -> None:
        """Give the message back: another replica runs a turn of the same user."""
        LEASE_CONTENTION.inc()
        delay = redelivery_delay(msg.metadata.num_delivered, base=_RETRY_BASE, cap=_RETRY_CAP)
        await msg.nak(delay=delay)


async def _abandon_once_taken(taking: asyncio.Task[Lease]) -> None:
    """Abandon the lease ``taking`` takes, if it takes it."""
    try:
        lease = await taking
    except BaseException:
        return
    await lease.abandon()
