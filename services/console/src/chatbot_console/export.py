"""Everything held about one user, as one JSON document (GDPR articles 15 and 20).

Read from every place the system keeps it: the conversation state, the user's messages still
in CHAT_INBOUND, CHAT_OUTBOUND and CHAT_EVENTS, the sender's delivery records, the dead
letters that hold their messages, and the transcript (docs/console.md, *Export*).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from chatbot_common.contracts import DeadLetter
from chatbot_common.dlq_records import dead_letters
from chatbot_common.kv import bucket_keys
from chatbot_common.topology import DELIVERIES_BUCKET, EVENTS, INBOUND, OUTBOUND, Stream

from .users import Transcript, Users

__all__ = ["Export", "Exporter", "Stored"]


class Stored(BaseModel):
    """One message as a stream holds it."""

    stream: str
    seq: int
    stored_at: datetime | None
    message: Any


class Export(BaseModel):
    """The document an export answers."""

    user_key: str
    exported_at: datetime
    state: dict[str, Any] | None
    messages: list[Stored]
    deliveries: dict[str, str]
    dead_letters: list[DeadLetter]
    transcript: Transcript | None


class Exporter:
    """Gathers an :class:`Export`."""

    def __init__(self, js: JetStreamContext, deliveries: KeyValue, users: Users) -> None:
        self._js = js
        self._deliveries = deliveries
        self._users = users

    async def export(self, key: str, *, now: datetime) -> Export | None:
        """The user's document; None when nothing is held about them."""
        state = await self._users.state(key)
        messages = [
            stored
            for stream, subject in (
                (INBOUND, INBOUND.subject(key)),
                (OUTBOUND, OUTBOUND.subject(key)),
                (EVENTS, f"{EVENTS.prefix}.*.{key}"),
            )
            async for stored in self._messages(stream, subject)
        ]
        letters = [
            record
            async for _, record in dead_letters(self._js)
            if isinstance(record, DeadLetter)
            and record.original_subject in (INBOUND.subject(key), OUTBOUND.subject(key))
        ]
        deliveries = await self._delivery_records(key)
        if state is None and not messages and not letters and not deliveries:
            return None
        return Export(
            user_key=key,
            exported_at=now,
            state=state,
            messages=messages,
            deliveries=deliveries,
            dead_letters=letters,
            transcript=await self._users.transcript(key),
        )

    async def _messages(self, stream: Stream, subject: str) -> AsyncIterator[Stored]:
        seq = 1
        while True:
            try:
                raw = await self._js.get_msg(stream.name, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return
            if raw.seq is None:
                return
            data = raw.data or b""
            try:
                message: Any = json.loads(data)
            except ValueError:
                message = data.decode(errors="replace")
            yield Stored(stream=stream.name, seq=raw.seq, stored_at=raw.time, message=message)
            seq = raw.seq + 1

    async def _delivery_records(self, key: str) -> dict[str, str]:
        """The sender's records of the user's replies (part to Twilio SID) and progress."""
        found = {}
        for pattern in (f"{key}.>", f"progress.{key}"):
            for name in await bucket_keys(self._js, DELIVERIES_BUCKET, pattern):
                try:
                    entry = await self._deliveries.get(name)
                except KeyNotFoundError:
                    continue  # deleted: only its marker is left
                found[name] = (entry.value or b"").decode(errors="replace")
        return found
