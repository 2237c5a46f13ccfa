"""What happens to each delivery of the shared CHAT_INBOUND consumer.

Any replica may receive any user's message. The delivery handler decides, from the user's
state, between three things:

- the message is already answered (``seq <= last_seq``): ack it;
- another turn of this user is running in this process: wait for it; it answers the message
  and acks this delivery when it commits it (if it ends first, look again);
- another replica holds the user's live lease: give the message back with a delay; the running
  turn will answer it, and the redelivery is then acked;
- otherwise: gather the user's unanswered messages (waiting out the coalescing window), take
  the lease for the first segment, and run turns (:mod:`.turns`).

A lease left behind by a holder that died still names the range it was answering; the next
holder answers exactly that range first. Each delivery runs in its own task (the consumer loop
gives every message one), so a slow user never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from chatbot_common.contracts import ContractError, InboundMessage, decode, utcnow
from chatbot_common.dlq import dead_letter
from chatbot_common.topology import INBOUND
from chatbot_common.worker import redelivery_delay

from .config import ConversationSettings
from .lease import Lease
from .mailbox import Inbound, Mailbox, next_segment
from .metrics import LEASE_CONTENTION, TURNS_IN_FLIGHT
from .outbox import SERVICE
from .state import SeqRange, StateConflictError, StateStore, StoredState
from .turns import Stopwatch, TurnRunner, seq_range

__all__ = ["TurnHandler"]

log = logging.getLogger(__name__)

_RACES = 3
"""Times a delivery re-reads the state after losing a race before it gives the message back."""
_MAX_WAITING = 10
"""Deliveries of one user that may wait for that user's running turns; the rest are given back."""
_RETRY_BASE = 0.5
_RETRY_CAP = 5.0


@dataclass
class _Serving:
    """This process at work on one user's messages, and the deliveries it takes along.

    The first delivery is the one being served; the others came while it was.
    """

    deliveries: list[Msg]
    finished: asyncio.Event = field(default_factory=asyncio.Event)


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
        self._owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._serving: dict[str, _Serving] = {}

    async def __call__(self, msg: Msg) -> None:
        try:
            decode(InboundMessage, msg.data)
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
                await self._later(msg)
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
            state = stored.state
            if seq <= state.last_seq:
                await msg.ack()
                return
            if state.leased_at(utcnow()):
                await self._later(msg)
                return
            with TURNS_IN_FLIGHT.track_inprogress():
                if await self._start(key, stored, last_known, deliveries, watch):
                    return
            last_known = None
        await self._later(msg)

    async def _start(
        self,
        key: str,
        stored: StoredState,
        last_known: int | None,
        deliveries: list[Msg],
        watch: Stopwatch,
    ) -> bool:
        """Gather the user's unanswered messages and run turns; False to look again.

        ``last_known`` is the user's latest message when that is known (None: not known).
        """
        pending = stored.state.pending
        if pending is not None:
            # Its holder died mid-turn: answer exactly that range first.
            segment = await self._mailbox.read(key, after=pending.first - 1, through=pending.last)
            if not segment:
                await self._skip_lost_range(key, stored)
                return False
            return await self._take(
                key, stored, segment, [], deliveries, recovering=True, watch=watch
            )
        if last_known is not None and not self._mailbox.coalesces:
            window = SeqRange(first=stored.state.last_seq + 1, last=last_known)
            return await self._take_while_reading(key, stored, window, deliveries, watch)
        batch = await self._mailbox.read(key, after=stored.state.last_seq, through=last_known)
        batch, waited = await self._mailbox.coalesce(key, batch)
        watch.waiting += waited
        segment, rest = next_segment(batch, max_chars=self._max_input)
        if not segment:
            return False  # not readable (any more): the next delivery looks again
        return await self._take(
            key, stored, segment, rest, deliveries, recovering=False, watch=watch
        )

    async def _take_while_reading(
        self,
        key: str,
        stored: StoredState,
        window: SeqRange,
        deliveries: list[Msg],
        watch: Stopwatch,
    ) -> bool:
        """Take the lease for ``window`` while reading its messages; False to look again.

        With nothing to wait for and the range known, this saves a round trip per turn. A
        pending range is answered as one turn by whoever recovers it, so ``window`` is the
        right ``pending`` when its messages make one segment; when a command cuts it, pending
        is narrowed to the first segment before the turn starts.
        """
        taking = asyncio.create_task(self._lease(key, stored, window))
        try:
            batch = await self._mailbox.read(key, after=window.first - 1, through=window.last)
        except BaseException:
            await _abandon_once_taken(taking)
            raise
        try:
            lease = await taking
        except StateConflictError:
            LEASE_CONTENTION.inc()
            return False
        segment, rest = next_segment(batch, max_chars=self._max_input)
        if not segment:
            await lease.abandon()  # the next look answers or skips the range
            return False
        if rest:
            try:
                await lease.write(
                    lease.state.model_copy(update={"pending": seq_range(segment)}), keep=True
                )
            except BaseException:
                await lease.abandon()
                raise
        await self._turns.run(lease, segment, rest, deliveries, recovering=False, watch=watch)
        return True

    async def _skip_lost_range(self, key: str, stored: StoredState) -> None:
        """Commit a pending range the stream no longer holds (older than its max age)."""
        state = stored.state
        assert state.pending is not None
        log.warning("pending messages are gone from the stream", extra={"user_key": key})
        with contextlib.suppress(StateConflictError):
            await self._store.save(
                key,
                state.model_copy(
                    update={
                        "last_seq": max(state.last_seq, state.pending.last),
                        "pending": None,
                        "lease": None,
                    }
                ),
                revision=stored.revision,
            )

    async def _take(
        self,
        key: str,
        stored: StoredState,
        segment: list[Inbound],
        rest: list[Inbound],
        deliveries: list[Msg],
        *,
        recovering: bool,
        watch: Stopwatch,
    ) -> bool:
        """Take the lease and run turns; False when another writer got there first."""
        try:
            lease = await self._lease(
                key, stored, (stored.state.pending if recovering else None) or seq_range(segment)
            )
        except StateConflictError:
            LEASE_CONTENTION.inc()
            return False
        await self._turns.run(lease, segment, rest, deliveries, recovering=recovering, watch=watch)
        return True

    async def _lease(self, key: str, stored: StoredState, pending: SeqRange) -> Lease:
        return await Lease.take(
            self._store, key, stored, owner=self._owner, ttl=self._lease_ttl, pending=pending
        )

    @staticmethod
    async def _later(msg: Msg) -> None:
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
