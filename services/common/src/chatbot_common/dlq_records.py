"""Reading and replaying the dead-letter stream (CHAT_DLQ): what `make dlq` and the console do.

A replay publishes the original payload to its original subject with a new ``Nats-Msg-Id``
(``<original id>:replay:<dlq seq>``), so JetStream does not drop it as a duplicate of the
original, and drops a second replay of the same record instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from .bus import MSG_ID_HEADER
from .contracts import ContractError, DeadLetter, decode
from .topology import DLQ

__all__ = ["Replayed", "dead_letter_at", "dead_letters", "replay"]


async def dead_letters(
    js: JetStreamContext, service: str | None = None
) -> AsyncIterator[tuple[int, DeadLetter | ContractError]]:
    """Every record, oldest first (only ``service``'s when given), with its stream sequence;
    an unreadable record as its :class:`ContractError`."""
    try:
        state = (await js.stream_info(DLQ.name)).state
    except NotFoundError:
        return
    if not state.messages:  # an empty stream reports first_seq 0, which no get accepts
        return
    subject = DLQ.subject(service) if service else None
    seq = state.first_seq
    while seq <= state.last_seq:
        try:
            raw = await js.get_msg(DLQ.name, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return
        if raw.seq is None:
            return
        try:
            yield raw.seq, decode(DeadLetter, raw.data or b"")
        except ContractError as error:
            yield raw.seq, error
        seq = raw.seq + 1


async def dead_letter_at(js: JetStreamContext, seq: int) -> DeadLetter:
    """The record at ``seq``; NotFoundError when there is none, ContractError if unreadable."""
    raw = await js.get_msg(DLQ.name, seq=seq)
    return decode(DeadLetter, raw.data or b"")


@dataclass(frozen=True)
class Replayed:
    """What a replay came to: ``where`` is ``<stream>:<seq>`` of the new message."""

    outcome: Literal["replayed", "already_replayed", "cut"]
    where: str | None = None


async def replay(js: JetStreamContext, seq: int) -> Replayed:
    """Publish the record's original message again (not when only part of it was kept)."""
    record = await dead_letter_at(js, seq)
    if record.original_size is not None:
        return Replayed("cut")
    msg_id = f"{record.original_id or record.original_subject}:replay:{seq}"
    ack = await js.publish(
        record.original_subject, record.original_payload.encode(), headers={MSG_ID_HEADER: msg_id}
    )
    if ack.duplicate:
        return Replayed("already_replayed")
    return Replayed("replayed", f"{ack.stream}:{ack.seq}")
