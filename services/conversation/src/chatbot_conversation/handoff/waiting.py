"""Who is with a person now (the CHAT_HANDOFFS bucket), and the timer that hands back users
no person has written to for ``HANDOFF_IDLE_TIMEOUT``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from chatbot_common.bus import publish
from chatbot_common.contracts import DeskEvent, utcnow
from chatbot_common.kv import bucket_keys
from chatbot_common.topology import HANDOFFS_BUCKET, INBOUND

from ..state import Handoff
from .metrics import OLDEST_WAIT, USERS_WITH_A_PERSON

__all__ = ["HandoffIndex", "Waiting", "watching_handoffs"]

log = logging.getLogger(__name__)


class Waiting(BaseModel):
    """A handed-off user as the timer sees them: when a person last wrote (or the handoff
    began), and since when the user has waited for a person's answer (None: not waiting)."""

    model_config = ConfigDict(frozen=True)

    quiet_since: datetime
    waiting_since: datetime | None


class HandoffIndex:
    """The CHAT_HANDOFFS bucket. The user's state decides; this only lists who to look at."""

    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self._js = js
        self._kv = kv

    async def put(self, key: str, handoff: Handoff) -> None:
        waiting = Waiting(quiet_since=handoff.quiet_since, waiting_since=handoff.waiting_since)
        await self._kv.put(key, waiting.model_dump_json().encode())

    async def remove(self, key: str) -> None:
        with contextlib.suppress(KeyNotFoundError):
            await self._kv.delete(key)

    async def entries(self) -> list[tuple[str, Waiting]]:
        found = []
        for key in await bucket_keys(self._js, HANDOFFS_BUCKET):
            with contextlib.suppress(KeyNotFoundError):
                entry = await self._kv.get(key)
                if entry.value:
                    found.append((key, Waiting.model_validate_json(entry.value)))
        return found


@contextlib.asynccontextmanager
async def watching_handoffs(
    js: JetStreamContext,
    index: HandoffIndex,
    *,
    idle_after: float,
    every: float,
    publish_timeout: float,
) -> AsyncIterator[None]:
    """Look at the handed-off users every ``every`` seconds while the block runs: set the wait
    gauges, and send an idle check to each user quiet for ``idle_after`` (0: never).

    Every replica looks; the checks' ``Nats-Msg-Id`` makes one of them count.
    """
    stop = asyncio.Event()

    async def look() -> None:
        while not stop.is_set():
            try:
                await _look_once(js, index, idle_after=idle_after, timeout=publish_timeout)
            except Exception as exc:  # the next look tries again
                log.warning("handoff timer: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    task = asyncio.create_task(look())
    try:
        yield
    finally:
        stop.set()
        await task


async def _look_once(
    js: JetStreamContext, index: HandoffIndex, *, idle_after: float, timeout: float
) -> None:
    now = utcnow()
    entries = await index.entries()
    USERS_WITH_A_PERSON.set(len(entries))
    waits = [(now - w.waiting_since).total_seconds() for _, w in entries if w.waiting_since]
    OLDEST_WAIT.set(max(waits, default=0.0))
    if idle_after <= 0:
        return
    for key, waiting in entries:
        if now - waiting.quiet_since < timedelta(seconds=idle_after):
            continue
        delivery = f"idle:{key}:{waiting.quiet_since.isoformat()}"
        check = DeskEvent(desk="timer", event="idle_check", delivery_id=delivery, received_at=now)
        await publish(js, INBOUND.subject(key), check, msg_id=delivery, timeout=timeout)
