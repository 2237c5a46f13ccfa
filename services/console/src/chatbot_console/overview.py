"""The console's overview: traffic in the last hour, dead letters by reason, handed-off users
waiting, and the models' shutdown dates, read from the streams, buckets and models API."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import openai
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from openai import AsyncOpenAI
from pydantic import BaseModel

from chatbot_common.contracts import DeadLetter
from chatbot_common.dlq_records import dead_letters
from chatbot_common.kv import bucket_keys
from chatbot_common.topology import HANDOFFS_BUCKET, INBOUND, OUTBOUND, Stream

__all__ = ["Overview", "Overviews"]


class Waiting(BaseModel):
    """Handed-off users, and how long the longest has waited for a person's answer."""

    users: int
    waiting: int
    oldest_wait_seconds: float | None


class ModelDate(BaseModel):
    model: str
    shutdown_date: str | None
    known: bool


class Overview(BaseModel):
    """The system at a glance."""

    at: datetime
    inbound_last_hour: int
    outbound_last_hour: int
    dead_letters_by_reason: dict[str, int]
    handoff: Waiting | None
    models: list[ModelDate]


class Overviews:
    """Reads an :class:`Overview`."""

    def __init__(
        self, js: JetStreamContext, openai: AsyncOpenAI | None, models: tuple[str, ...]
    ) -> None:
        self._js = js
        self._openai = openai
        self._models = models

    async def read(self, now: datetime) -> Overview:
        since = now - timedelta(hours=1)
        reasons: Counter[str] = Counter()
        async for _, record in dead_letters(self._js):
            if isinstance(record, DeadLetter):
                reasons[record.reason] += 1
        return Overview(
            at=now,
            inbound_last_hour=await self._since(INBOUND, since),
            outbound_last_hour=await self._since(OUTBOUND, since),
            dead_letters_by_reason=dict(reasons.most_common()),
            handoff=await self._waiting(now),
            models=[await self._model(name) for name in self._models],
        )

    async def _since(self, stream: Stream, since: datetime) -> int:
        """About how many messages the stream stored after ``since`` (sequences, so a deleted
        one still counts): a binary search over the stored times."""
        try:
            state = (await self._js.stream_info(stream.name)).state
        except NotFoundError:
            return 0
        if not state.messages:
            return 0
        low, high = state.first_seq, state.last_seq + 1  # the first seq at or after ``since``
        while low < high:
            middle = (low + high) // 2
            try:
                raw = await self._js.get_msg(stream.name, seq=middle, next=True)
            except NotFoundError:
                high = middle
                continue
            if raw.time is not None and raw.time >= since:
                high = middle
            else:
                low = (raw.seq or middle) + 1
        return state.last_seq + 1 - low if low <= state.last_seq else 0

    async def _waiting(self, now: datetime) -> Waiting | None:
        """None without a desk (the conversation service makes CHAT_HANDOFFS with one)."""
        try:
            handoffs = await self._js.key_value(HANDOFFS_BUCKET.name)
        except NotFoundError:
            return None
        waits = []
        keys = await bucket_keys(self._js, HANDOFFS_BUCKET)
        users = 0
        for key in keys:
            try:
                entry = await handoffs.get(key)
            except KeyNotFoundError:
                continue  # handed back: only its marker is left
            users += 1
            since = json.loads(entry.value or b"{}").get("waiting_since")
            if since:
                waits.append((now - datetime.fromisoformat(since)).total_seconds())
        return Waiting(
            users=users, waiting=len(waits), oldest_wait_seconds=max(waits, default=None)
        )

    async def _model(self, name: str) -> ModelDate:
        if self._openai is None:
            return ModelDate(model=name, shutdown_date=None, known=False)
        try:
            found = await self._openai.models.retrieve(name)
        except openai.NotFoundError:
            return ModelDate(model=name, shutdown_date=None, known=False)
        return ModelDate(
            model=name, shutdown_date=getattr(found, "shutdown_date", None), known=True
        )
