"""Each user's conversation state in the CHAT_CONVERSATIONS KV bucket.

The key is the user key; the value says which OpenAI conversation holds the history and the
last inbound stream sequence that was answered. Writes are compare-and-set on the revision
that was read, so two writers can never silently overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from chatbot_common.contracts import utcnow

__all__ = ["ConversationState", "StateStore", "StoredState"]


class ConversationState(BaseModel):
    """What the service remembers about one user."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = 1
    conversation_id: str | None = None
    last_seq: int = 0
    turns: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True)
class StoredState:
    """A state and the KV revision it was read at (0 when the key does not exist yet)."""

    state: ConversationState
    revision: int


class StateStore:
    """Reads and compare-and-sets conversation states."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def load(self, key: str) -> StoredState:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return StoredState(ConversationState(), 0)
        value = ConversationState.model_validate_json(entry.value or b"{}")
        return StoredState(value, entry.revision or 0)

    async def save(self, key: str, state: ConversationState, *, revision: int) -> int:
        """Write ``state`` if the key is still at ``revision``; return the new revision."""
        data = state.model_copy(update={"updated_at": utcnow()}).model_dump_json().encode()
        if revision == 0:
            return await self._kv.create(key, data)
        return await self._kv.update(key, data, last=revision)
