"""A user's mailbox: their inbound messages read straight from CHAT_INBOUND, in stream order.

The lease holder reads the user's unanswered messages itself (direct gets by subject), whichever
replica received them, and cuts them into turns: a command or a desk's event is a turn of its
own, and no turn takes more than ``TURN_MAX_INPUT_CHARS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from chatbot_common.bus import MSG_ID_HEADER
from chatbot_common.contracts import (
    ContractError,
    DeskEvent,
    InboundMessage,
    decode_user_inbound,
    utcnow,
)
from chatbot_common.topology import INBOUND

from .inputs import command_of, text_prompt

__all__ = ["Entry", "FromDesk", "Inbound", "Mailbox", "next_segment", "user_messages"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class _Stored:
    """Where one entry of the user's subject sits in the stream, and its payload."""

    seq: int
    subject: str
    data: bytes
    headers: Mapping[str, str]
    stored_at: datetime

    @property
    def msg_id(self) -> str | None:
        return self.headers.get(MSG_ID_HEADER)

    def holding(self, payload: InboundMessage | DeskEvent) -> Entry:
        """The entry for ``payload`` stored here."""
        where = vars(self)
        if isinstance(payload, DeskEvent):
            return FromDesk(event=payload, **where)
        return Inbound(message=payload, **where)


@dataclass(frozen=True, kw_only=True)
class Inbound(_Stored):
    """One of the user's own messages."""

    message: InboundMessage


@dataclass(frozen=True, kw_only=True)
class FromDesk(_Stored):
    """A desk's event about the user: an agent's message, a hand-back, an idle check."""

    event: DeskEvent


type Entry = Inbound | FromDesk


def user_messages(segment: Sequence[Entry]) -> TypeGuard[Sequence[Inbound]]:
    """Whether ``segment`` is the user's messages (a segment is never mixed)."""
    return not segment or isinstance(segment[0], Inbound)


class Mailbox:
    """Reads one user's messages from CHAT_INBOUND."""

    def __init__(self, js: JetStreamContext, *, coalesce_window: float) -> None:
        self._js = js
        self._window = coalesce_window

    async def read(
        self, key: str, *, after: int, through: int | None = None, limit: int | None = None
    ) -> list[Entry]:
        """The user's entries with ``after < seq <= through`` (no upper bound when None).

        At most ``limit`` of them when given. A payload that is neither a valid InboundMessage
        nor a DeskEvent is skipped: its own delivery sends it to the dead-letter stream.
        """
        subject = INBOUND.subject(key)
        found: list[Entry] = []
        seq = after + 1
        while (through is None or seq <= through) and (limit is None or len(found) < limit):
            try:
                raw = await self._js.get_msg(
                    INBOUND.name, seq=seq, subject=subject, next=True, direct=True
                )
            except NotFoundError:
                break
            if raw.seq is None or (through is not None and raw.seq > through):
                break
            seq = raw.seq + 1
            data = raw.data or b""
            try:
                decoded = decode_user_inbound(data)
            except ContractError:
                log.info("skipping a malformed message", extra={"user_key": key, "seq": raw.seq})
                continue
            where = _Stored(
                seq=raw.seq,
                subject=subject,
                data=data,
                headers=dict(raw.headers or {}),
                stored_at=raw.time or utcnow(),
            )
            found.append(where.holding(decoded))
        return found

    @property
    def coalesces(self) -> bool:
        """Whether a turn waits for what follows its first message (a window is set)."""
        return self._window > 0

    def wait_before(self, batch: Sequence[Entry]) -> float:
        """Seconds until the coalescing window of the batch's oldest message closes (none
        before a desk's event: it is a turn of its own)."""
        if not batch or not self.coalesces or isinstance(batch[0], FromDesk):
            return 0.0
        return max(0.0, self._window - (utcnow() - batch[0].stored_at).total_seconds())

    async def coalesce(self, key: str, batch: list[Entry]) -> tuple[list[Entry], float]:
        """``batch`` plus what arrives until its window closes, and the seconds waited."""
        wait = self.wait_before(batch)
        if wait <= 0:
            return batch, 0.0
        await asyncio.sleep(wait)
        return batch + await self.read(key, after=batch[-1].seq), wait


def next_segment(
    batch: Sequence[Entry], *, max_chars: int | None = None, words: frozenset[str] = frozenset()
) -> tuple[list[Entry], list[Entry]]:
    """The entries the next turn answers, and the rest.

    A command, a desk's event or one of ``words`` is a turn of its own; otherwise the turn takes
    every message up to the next of them, and no more than ``max_chars`` characters of text
    (``TURN_MAX_INPUT_CHARS``) in all, cut at whole messages: a longer burst is answered in
    several turns, in order. A single message longer than that is a turn of its own (cut to
    the bound when the model is asked, :func:`.inputs.bounded`).
    """
    if not batch:
        return [], []
    if _alone(batch[0], words):
        return [batch[0]], list(batch[1:])
    end = 0
    chars = 0
    for item in batch:
        if not isinstance(item, Inbound) or _alone(item, words):
            break
        if max_chars is not None:
            chars += len(text_prompt(item.message).text)
            if end and chars > max_chars:
                break
        end += 1
    return list(batch[:end]), list(batch[end:])


def _alone(entry: Entry, words: frozenset[str]) -> bool:
    """Whether ``entry`` makes a turn of its own: a desk's event, a command, or a message that
    is, whole, one of ``words`` (opting out or in)."""
    if not isinstance(entry, Inbound):
        return True
    message = entry.message
    return command_of(message) is not None or message.body.strip().casefold() in words
