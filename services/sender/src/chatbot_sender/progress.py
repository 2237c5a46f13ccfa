"""Each user's replies in order across replicas and restarts: which of them are finished.

Before a reply goes out, the sender looks in the stream for the user's oldest unfinished reply;
while that is an earlier one, this one waits. The highest finished sequence per user is kept in
CHAT_DELIVERIES (docs/sender.md, *One user's replies in order*).
"""

from __future__ import annotations

import time

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from chatbot_common.contracts import ContractError, OutboundMessage, decode
from chatbot_common.topology import OUTBOUND, Consumer

__all__ = ["Progress"]

_FLOOR_TTL = 1.0
"""Seconds a read of the consumer's ack floor is reused (a stale floor is only lower)."""
_RACES = 5
"""Compare-and-set attempts of one progress write before giving up to the redelivery."""


class Progress:
    """Which of each user's replies are finished, shared by every replica through NATS."""

    def __init__(self, js: JetStreamContext, kv: KeyValue, consumer: Consumer) -> None:
        self._js = js
        self._kv = kv
        self._consumer = consumer
        self._floor = 0
        self._floor_read_at = float("-inf")

    @staticmethod
    def key(user_key: str) -> str:
        """The CHAT_DELIVERIES key of a user's progress."""
        return f"progress.{user_key}"

    async def earlier_unfinished(self, user_key: str, seq: int) -> int | None:
        """The stream sequence of a reply to ``user_key`` before ``seq`` not finished yet."""
        subject = OUTBOUND.subject(user_key)
        after = max(await self._finished(user_key), await self._ack_floor())
        while after + 1 < seq:
            try:
                found = await self._js.get_msg(
                    OUTBOUND.name, seq=after + 1, subject=subject, next=True, direct=True
                )
            except NotFoundError:
                return None
            if found.seq is None or found.seq >= seq:
                return None
            if not _is_typing(found.data or b""):
                return found.seq
            after = found.seq
        return None

    async def finish(self, user_key: str, seq: int) -> None:
        """Record reply ``seq`` of ``user_key`` as finished (the record never goes down)."""
        key = self.key(user_key)
        for _ in range(_RACES):
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                current, revision = 0, 0
            else:
                current, revision = int(entry.value or b"0"), entry.revision or 0
            if current >= seq:
                return
            value = str(seq).encode()
            try:
                if revision:
                    await self._kv.update(key, value, last=revision)
                else:
                    await self._kv.create(key, value)
            except KeyWrongLastSequenceError:
                continue  # another replica finished one of this user's replies just now
            return
        raise RuntimeError("could not record a user's progress: too many concurrent writers")

    async def _finished(self, user_key: str) -> int:
        try:
            entry = await self._kv.get(self.key(user_key))
        except KeyNotFoundError:
            return 0
        return int(entry.value or b"0")

    async def _ack_floor(self) -> int:
        now = time.monotonic()
        if now - self._floor_read_at > _FLOOR_TTL:
            info = await self._js.consumer_info(self._consumer.stream.name, self._consumer.durable)
            self._floor = info.ack_floor.stream_seq if info.ack_floor else 0
            self._floor_read_at = now
        return self._floor


def _is_typing(data: bytes) -> bool:
    try:
        return decode(OutboundMessage, data).kind == "typing"
    except ContractError:
        return False  # a malformed message is finished once it is dead-lettered
