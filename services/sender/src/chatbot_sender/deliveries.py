"""The record of every part Twilio accepted, in the CHAT_DELIVERIES KV bucket.

``<idempotency key>.<part index>`` holds the Twilio SID; an empty value is a claim, written
before Twilio is called. A SID the store refuses is kept and written again until it is taken
(docs/sender.md, *Delivery records*).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from .metrics import RECORD_FAILURES, RECORDS_UNWRITTEN

__all__ = ["Deliveries", "RecordUnavailable"]

log = logging.getLogger(__name__)

_REWRITE_FIRST = 0.2
_REWRITE_MAX = 2.0
"""Seconds between two attempts to write the SIDs the store refused (doubling)."""


class RecordUnavailable(Exception):
    """CHAT_DELIVERIES did not take a part's claim: the part must not be sent now."""


class Deliveries:
    """Which parts of which replies were already accepted by Twilio."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._unwritten: dict[str, str] = {}
        self._rewriter: asyncio.Task[None] | None = None
        RECORDS_UNWRITTEN.set_function(lambda: len(self._unwritten))

    @staticmethod
    def key(idempotency_key: str, part: int) -> str:
        """The KV key of one part."""
        return f"{idempotency_key}.{part}"

    async def sent_sid(self, idempotency_key: str, part: int) -> str | None:
        """The Twilio SID of a part already sent, or ``None``."""
        key = self.key(idempotency_key, part)
        if (sid := self._unwritten.get(key)) is not None:
            return sid
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return (entry.value or b"").decode() or None

    async def claim(self, idempotency_key: str, part: int) -> None:
        """Write the part's claim; raise :class:`RecordUnavailable` when the store refuses."""
        try:
            await self._kv.put(self.key(idempotency_key, part), b"")
        except (NatsError, TimeoutError) as exc:
            RECORD_FAILURES.labels("claim").inc()
            raise RecordUnavailable(str(exc) or type(exc).__name__) from exc

    async def record(self, idempotency_key: str, part: int, sid: str) -> None:
        """Remember that Twilio accepted ``part`` as message ``sid`` (kept until written)."""
        key = self.key(idempotency_key, part)
        try:
            await self._kv.put(key, sid.encode())
        except (NatsError, TimeoutError) as exc:
            RECORD_FAILURES.labels("record").inc()
            log.warning(
                "delivery record not written; kept until the store takes it",
                extra={"idempotency_key": idempotency_key, "part": part, "error": repr(exc)},
            )
            self._unwritten[key] = sid
            if self._rewriter is None or self._rewriter.done():
                self._rewriter = asyncio.create_task(self._rewrite(), name="delivery-rewriter")

    async def aclose(self) -> None:
        """Stop writing again; log what the store never took (those parts may go out twice)."""
        if self._rewriter is not None:
            self._rewriter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rewriter
        if self._unwritten:
            log.error(
                "delivery records never written: a redelivery elsewhere may send these again",
                extra={"parts": sorted(self._unwritten)},
            )

    async def _rewrite(self) -> None:
        wait = _REWRITE_FIRST
        while self._unwritten:
            await asyncio.sleep(wait)
            for key, sid in list(self._unwritten.items()):
                try:
                    await self._kv.put(key, sid.encode())
                except (NatsError, TimeoutError):
                    wait = min(_REWRITE_MAX, wait * 2)
                    break
                del self._unwritten[key]
        log.info("every delivery record written")
