"""A user's mailbox: their inbound messages read straight from CHAT_INBOUND, in stream order.

The lease holder reads the user's unanswered messages itself (direct gets by subject), whichever
replica received them, and cuts them into turns: a command is a turn of its own, and no turn
takes more than ``TURN_MAX_INPUT_CHARS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from chatbot_common.bus import MSG_ID_HEADER
from chatbot_common.contracts import ContractError, InboundMessage, decode, utcnow
from chatbot_common.topology import INBOUND

from .inputs import command_of, text_prompt

__all__ = ["Inbound", "Mailbox", "next_segment"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """One stored inbound message and where it sits in the stream."""

    seq: int
    message: InboundMessage
    subject: str
    data: bytes
    headers: Mapping[str, str]
    stored_at: datetime

    @property
    def msg_id(self) -> str | None:
        return self.headers.get(MSG_ID_HEADER)


class Mailbox:
    """Reads one user's messages from CHAT_INBOUND."""

    def __init__(self, js: JetStreamContext, *, coalesce_window: float) -> None:
        self._js = js
        self._window = coalesce_window

    async def read(
        self, key: str, *, after: int, through: int | None = None, limit: int | None = None
    ) -> list[Inbound]:
        """The user's messages with ``after < seq <= through`` (no upper bound when None).

        At most ``limit`` of them when given. A message that is not a valid InboundMessage is
        skipped: its own delivery sends it to the dead-letter stream.
        """
        subject = INBOUND.subject(key)
        found: list[Inbound] = []
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
                message = decode(InboundMessage, data)
            except ContractError:
                log.info("skipping a malformed message", extra={"user_key": key, "seq": raw.seq})
                continue
            found.append(
                Inbound(
                    seq=raw.seq,
                    message=message,
                    subject=subject,
                    data=data,
                    headers=dict(raw.headers or {}),
                    stored_at=raw.time or utcnow(),
                )
            )
        return found

    @property
    def coalesces(self) -> bool:
        """Whether a turn waits for what follows its first message (a window is set)."""
        return self._window > 0

    def wait_before(self, batch: Sequence[Inbound]) -> float:
        """Seconds until the coalescing window of the batch's oldest message closes."""
        if not batch or not self.coalesces:
            return 0.0
        return max(0.0, self._window - (utcnow() - batch[0].stored_at).total_seconds())

    async def coalesce(self, key: str, batch: list[Inbound]) -> tuple[list[Inbound], float]:
        """``batch`` plus what arrives until its window closes, and the seconds waited."""
        wait = self.wait_before(batch)
        if wait <= 0:
            return batch, 0.0
        await asyncio.sleep(wait)
        return batch + await self.read(key, after=batch[-1].seq), wait


def next_segment(
    batch: Sequence[Inbound], *, max_chars: int | None = None
) -> tuple[list[Inbound], list[Inbound]]:
    """The messages the next turn answers, and the rest.

    A command is a turn of its own; otherwise the turn takes every message up to the next
    command, and no more than ``max_chars`` characters of text (``TURN_MAX_INPUT_CHARS``) in
    all, cut at whole messages: a longer burst is answered in several turns, in order. A
    single message longer than that is a turn of its own (cut to the bound when the model is
    asked, :func:`.inputs.bounded`).
    """
    if not batch:
        return [], []
    if command_of(batch[0].message) is not None:
        return [batch[0]], list(batch[1:])
    end = 0
    chars = 0
    for item in batch:
        if command_of(item.message) is not None:
            break
        if max_chars is not None:
            chars += len(text_prompt(item.message).text)
            if end and chars > max_chars:
                break
        end += 1
    return list(batch[:end]), list(batch[end:])
