"""Each user's conversation state in the CHAT_CONVERSATIONS KV bucket, one key per user.

The value holds what a turn needs and decides, the turn lease included, so taking the lease,
committing and releasing are each one compare-and-set (docs/conversation.md, *The state record*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from chatbot_common.contracts import InboundMessage, utcnow

__all__ = [
    "Address",
    "ChatTurn",
    "ConversationState",
    "DailyTokens",
    "Handoff",
    "LeaseRecord",
    "RateWindow",
    "SeqRange",
    "StateConflictError",
    "StateStore",
    "StoredCall",
    "StoredState",
]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class StoredCall(_Value):
    """A function call of the model, kept in the chat backend's history."""

    id: str
    name: str
    arguments: str


class ChatTurn(_Value):
    """One message of the chat backend's history: the user's, the model's (text, or function
    calls), or a function call's output (``tool``)."""

    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: tuple[StoredCall, ...] = Field((), exclude_if=lambda calls: not calls)
    tool_call_id: str | None = Field(None, exclude_if=lambda value: value is None)


class LeaseRecord(_Value):
    """Who runs this user's turns, and until when unless renewed."""

    owner: str
    expires_at: datetime


class SeqRange(_Value):
    """The inbound stream sequences one turn answers (its reply's idempotency key).

    As ``pending``, it also counts the turns started for that range (``attempts``, this one
    included) and says why the last one did not commit (``error``: an exception's type name;
    none after a crash), so that a range whose turn keeps failing is given up on after
    ``TURN_MAX_ATTEMPTS`` instead of asking the model again on every redelivery.
    """

    first: int
    last: int
    attempts: int = 1
    error: str | None = None

    def again(self) -> SeqRange:
        """The same range, attempted once more."""
        return self.model_copy(update={"attempts": self.attempts + 1})

    def same_range(self, other: SeqRange | None) -> bool:
        return other is not None and (other.first, other.last) == (self.first, self.last)


class RateWindow(_Value):
    """Messages counted in the current minute, and whether the user was told to slow down."""

    started_at: datetime
    messages: int = 0
    notified: bool = False


class DailyTokens(_Value):
    """Model tokens used on one UTC day, and whether the user was told the budget is spent."""

    day: date
    tokens: int = 0
    notified: bool = False


class Address(_Value):
    """The two ends of the user's chat: their number and the business's, and the user's
    WhatsApp profile name."""

    user: str = Field(repr=False)
    business: str = Field(repr=False)
    name: str | None = Field(None, repr=False)

    @classmethod
    def of(cls, message: InboundMessage) -> Address:
        """Where ``message`` came from and went to."""
        return cls(user=message.from_, business=message.to, name=message.profile_name)


class Handoff(_Value):
    """A person has the user: at which desk conversation, since when and why, when the person
    last wrote, since when the user has waited for a person's answer, and whether the user was
    told the desk is down. (Their replies go to the state's ``address``.)"""

    desk_conversation: str
    since: datetime
    reason: Literal["keyword", "model", "operator"]
    last_agent_at: datetime | None = None
    waiting_since: datetime | None = None
    desk_down_told: bool = False

    @property
    def quiet_since(self) -> datetime:
        """Since when no person has written to the user."""
        return self.last_agent_at or self.since


class ConversationState(_Value):
    """What the service remembers about one user."""

    v: int = 1
    conversation_id: str | None = None
    history: tuple[ChatTurn, ...] = ()
    last_seq: int = 0
    turns: int = 0
    messages: int = 0
    tokens: int = 0
    last_turn_at: datetime | None = None
    updated_at: datetime | None = None
    lease: LeaseRecord | None = None
    pending: SeqRange | None = None
    rate: RateWindow | None = None
    budget: DailyTokens | None = None
    handoff: Handoff | None = None
    address: Address | None = None
    """Where the user's chat is, as their latest turn had it (for a turn they did not start)."""
    last_inbound_at: datetime | None = None
    """When the user's latest message reached us: WhatsApp's 24-hour window starts there."""
    opted_out: bool = False
    """The user asked for no messages the business starts (OPT_OUT_KEYWORDS)."""

    def leased_at(self, now: datetime) -> bool:
        """Whether a turn holds this user's lease at ``now``."""
        return self.lease is not None and self.lease.expires_at > now

    def fresh_conversation(self) -> ConversationState:
        """The same user starting over: no OpenAI conversation, no history."""
        return self.model_copy(update={"conversation_id": None, "history": ()})


@dataclass(frozen=True)
class StoredState:
    """A state and the KV revision it was read at (0 when the key does not exist yet)."""

    state: ConversationState
    revision: int


class StateConflictError(RuntimeError):
    """The key changed since it was read: someone else wrote first."""


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

    async def delete(self, key: str, *, revision: int) -> None:
        """Delete the key if it is still at ``revision`` (its value gone, not kept in history).

        Raises :class:`StateConflictError` when another writer got there first.
        """
        try:
            await self._kv.delete(key, last=revision)
        except KeyWrongLastSequenceError:
            raise StateConflictError(key) from None

    async def save(self, key: str, state: ConversationState, *, revision: int) -> StoredState:
        """Write ``state`` if the key is still at ``revision``; the state as written, revised.

        Raises :class:`StateConflictError` when another writer got there first.
        """
        written = state.model_copy(update={"updated_at": utcnow()})
        data = written.model_dump_json().encode()
        try:
            if revision == 0:
                new_revision = await self._kv.create(key, data)
            else:
                new_revision = await self._kv.update(key, data, last=revision)
        except KeyWrongLastSequenceError:
            raise StateConflictError(key) from None
        return StoredState(written, new_revision)
