"""What the console reads about a user: their state (the conversation service's, read only),
their unanswered messages and dead letters, and their transcript."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from openai import AsyncOpenAI
from pydantic import BaseModel

from chatbot_common.contracts import DeadLetter
from chatbot_common.dlq_records import dead_letters
from chatbot_common.topology import INBOUND, OUTBOUND
from chatbot_common.userkey import user_key

__all__ = ["Found", "Line", "Transcript", "UserView", "Users"]


class Found(BaseModel):
    """A user a phone number names: their key, with which business number, whether known."""

    user_key: str
    business: str
    known: bool


class Handoff(BaseModel):
    desk_conversation: str
    since: datetime
    reason: str
    waiting_since: datetime | None = None


class UserView(BaseModel):
    """A user as an operator sees them."""

    user_key: str
    mode: Literal["bot", "handoff"]
    opted_out: bool
    handoff: Handoff | None
    conversation_id: str | None
    last_seen: datetime | None
    messages: int
    turns: int
    tokens: int
    tokens_today: int
    rate_window_messages: int
    unanswered: int
    dead_letters: list[int]


class Line(BaseModel):
    role: str
    text: str


class Transcript(BaseModel):
    """The user's chat as the model has it: from their OpenAI Conversation, or the history
    the chat backend keeps."""

    source: Literal["openai", "history", "none"]
    lines: list[Line]


class Users:
    """Finds users and reads what is held about them."""

    def __init__(
        self,
        js: JetStreamContext,
        conversations: KeyValue,
        *,
        secret: str,
        business_numbers: tuple[str, ...],
        openai: AsyncOpenAI | None,
    ) -> None:
        self._js = js
        self._kv = conversations
        self._secret = secret
        self._business = business_numbers
        self._openai = openai

    async def find(self, phone: str) -> list[Found]:
        """The user ``phone`` is with each business number; the number is not kept."""
        found = []
        for business in self._business:
            key = self.key_of(business, phone)
            found.append(
                Found(user_key=key, business=business, known=await self.state(key) is not None)
            )
        return found

    def key_of(self, business: str, phone: str) -> str:
        """The key of the user ``phone`` with the business number ``business``."""
        return user_key(self._secret, business, phone)

    async def view(self, key: str) -> UserView | None:
        """The user's state and what is pending for them; None for a key nobody has."""
        state = await self.state(key)
        letters = [seq async for seq, record in dead_letters(self._js) if _about(record, key)]
        if state is None and not letters:
            return None
        state = state or {}
        handoff = state.get("handoff")
        budget, rate = state.get("budget") or {}, state.get("rate") or {}
        return UserView(
            user_key=key,
            mode="handoff" if handoff else "bot",
            opted_out=state.get("opted_out", False),
            handoff=Handoff.model_validate(handoff) if handoff else None,
            conversation_id=state.get("conversation_id"),
            last_seen=state.get("updated_at"),
            messages=state.get("messages", 0),
            turns=state.get("turns", 0),
            tokens=state.get("tokens", 0),
            tokens_today=budget.get("tokens", 0),
            rate_window_messages=rate.get("messages", 0),
            unanswered=await self._unanswered(key, state.get("last_seq", 0)),
            dead_letters=letters,
        )

    async def transcript(self, key: str) -> Transcript | None:
        """The user's chat, oldest first; None for a key nobody has."""
        state = await self.state(key)
        if state is None:
            return None
        if state.get("conversation_id") and self._openai is not None:
            items = self._openai.conversations.items.list(state["conversation_id"], order="asc")
            lines = [
                Line(role=item.role, text=_text(item))
                async for item in items
                if item.type == "message"
            ]
            return Transcript(source="openai", lines=lines)
        history = state.get("history") or []
        lines = [
            Line(role=turn["role"], text=turn["content"]) for turn in history if turn.get("content")
        ]
        return Transcript(source="history" if history else "none", lines=lines)

    async def state(self, key: str) -> dict[str, Any] | None:
        """The user's state as the conversation service wrote it; None when there is none."""
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        value: dict[str, Any] = json.loads(entry.value or b"{}")
        return value

    async def _unanswered(self, key: str, last_seq: int) -> int:
        """The user's messages (and desk events) after the last one answered."""
        count, seq = 0, last_seq + 1
        subject = INBOUND.subject(key)
        while True:
            try:
                raw = await self._js.get_msg(INBOUND.name, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return count
            if raw.seq is None:
                return count
            count, seq = count + 1, raw.seq + 1


def _about(record: DeadLetter | Exception, key: str) -> bool:
    """Whether a dead letter holds one of the user's messages (in or out)."""
    if not isinstance(record, DeadLetter):
        return False
    return record.original_subject in (INBOUND.subject(key), OUTBOUND.subject(key))


def _text(item: Any) -> str:
    return " ".join(getattr(part, "text", None) or "" for part in item.content or ()).strip()
