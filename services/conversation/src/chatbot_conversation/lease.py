"""A user's turn lease while this process holds it: taken, renewed, fenced, released.

The lease lives in the user's state; every write is a compare-and-set on our own last
revision, so a lease taken over elsewhere is noticed at the next write and nothing more is
published (docs/conversation.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from chatbot_common.contracts import utcnow

from .state import (
    ConversationState,
    LeaseRecord,
    SeqRange,
    StateConflictError,
    StateStore,
    StoredState,
)

__all__ = ["Lease", "LeaseLostError"]

log = logging.getLogger(__name__)


class LeaseLostError(RuntimeError):
    """Another replica took this user's lease over: stop without publishing."""


class Lease:
    """This process's hold on one user's turns."""

    def __init__(
        self, store: StateStore, key: str, stored: StoredState, *, owner: str, ttl: float
    ) -> None:
        self.key = key
        self._store = store
        self._stored = stored
        self._owner = owner
        self._ttl = timedelta(seconds=ttl)
        self._lock = asyncio.Lock()
        self._lost = False

    @classmethod
    async def take(
        cls,
        store: StateStore,
        key: str,
        stored: StoredState,
        *,
        owner: str,
        ttl: float,
        pending: SeqRange,
    ) -> Lease:
        """Take the lease to answer ``pending``, if the state is still as read.

        Taking it for the range already pending (a holder's turn did not commit) counts one
        more attempt of that range. Raises :class:`~.state.StateConflictError` when another
        writer changed it since.
        """
        previous = stored.state.pending
        if previous is not None and pending.same_range(previous):
            pending = previous.again()
        state = stored.state.model_copy(
            update={
                "lease": LeaseRecord(owner=owner, expires_at=utcnow() + timedelta(seconds=ttl)),
                "pending": pending,
            }
        )
        return cls(
            store, key, await store.save(key, state, revision=stored.revision), owner=owner, ttl=ttl
        )

    @property
    def state(self) -> ConversationState:
        """The state as this process last wrote it."""
        return self._stored.state

    def expires_at(self) -> datetime:
        lease = self._stored.state.lease
        return lease.expires_at if lease is not None else utcnow()

    def check(self, margin: float) -> None:
        """Raise :class:`LeaseLostError` unless the lease holds for ``margin`` seconds more."""
        if self._lost or self.expires_at() - utcnow() < timedelta(seconds=margin):
            raise LeaseLostError(self.key)

    async def write(self, state: ConversationState, *, keep: bool) -> None:
        """Compare-and-set ``state``, renewing the lease (``keep``) or releasing it."""
        async with self._lock:
            if self._lost:
                raise LeaseLostError(self.key)
            lease = (
                LeaseRecord(owner=self._owner, expires_at=utcnow() + self._ttl) if keep else None
            )
            try:
                self._stored = await self._store.save(
                    self.key,
                    state.model_copy(update={"lease": lease}),
                    revision=self._stored.revision,
                )
            except StateConflictError:
                self._lost = True
                raise LeaseLostError(self.key) from None

    async def forget(self) -> None:
        """Delete the user's state, as this process last wrote it (an erase): a writer that got
        there first keeps theirs."""
        async with self._lock:
            with contextlib.suppress(StateConflictError):
                await self._store.delete(self.key, revision=self._stored.revision)

    async def remember_conversation(self, conversation_id: str) -> None:
        """Keep a conversation just created for this turn, before anything is asked in it.

        A holder that dies after its answer went out leaves a successor that commits the turn
        without asking again (``Outbox.already_sent``): the conversation id must already
        be in the state then, or the user's next turn would start a new conversation.
        """
        await self.write(
            self.state.model_copy(update={"conversation_id": conversation_id}), keep=True
        )

    async def abandon(self, error: str | None = None) -> None:
        """Release the lease but keep ``pending``: the next holder answers that range again.

        For a holder whose turn will not run or finish, so that the range is handed over now
        rather than when the lease expires: never raises (if the write fails, the expiry
        still hands it over), and a cancellation does not cut the write short. ``error``
        (why the turn failed) is kept with the range, for its dead letters if it is given up.
        """
        state = self.state
        if error is not None and state.pending is not None:
            state = state.model_copy(
                update={"pending": state.pending.model_copy(update={"error": error})}
            )
        with contextlib.suppress(Exception):
            await asyncio.shield(self.write(state, keep=False))

    @contextlib.asynccontextmanager
    async def kept_alive(
        self, deliveries: Sequence[Msg], *, interval: float
    ) -> AsyncIterator[None]:
        """Renew the lease, and the ack wait of the deliveries not yet acked, every ``interval``
        seconds in the block (``deliveries`` may grow meanwhile)."""
        stop = asyncio.Event()
        task = asyncio.create_task(self._keep_alive(deliveries, stop, interval))
        try:
            yield
        finally:
            stop.set()
            await task

    async def _keep_alive(
        self, deliveries: Sequence[Msg], stop: asyncio.Event, interval: float
    ) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            try:
                await self.write(self.state, keep=True)
                for delivery in list(deliveries):
                    if not delivery.is_acked:
                        await delivery.in_progress()
            except LeaseLostError:
                log.warning("lease taken over by another replica", extra={"user_key": self.key})
                return
            except (NatsError, TimeoutError) as exc:
                # The lease still holds until its expiry; the next tick tries again.
                log.warning(
                    "could not renew the lease (%s)",
                    type(exc).__name__,
                    extra={"user_key": self.key},
                )
