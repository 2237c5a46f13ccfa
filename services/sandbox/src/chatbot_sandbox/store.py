"""In-memory records of what the sandbox received, and a way to wait for them.

Tests assert on what the services sent to "Twilio" and "OpenAI", so every request the sandbox
sees is kept here, in arrival order, until `DELETE /_sandbox` clears it. Waiting is event
driven: :meth:`RecordLog.wait_until` parks a future that the next matching append resolves, so a
test never polls or sleeps. Live views (the chat page's event stream) use
:meth:`RecordLog.subscribe` instead: a callback that sees each record as it is appended.
Everything lives on one event loop (the server's), so no locks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from chatbot_sandbox.twilio_records import (
    MediaFetchRecord,
    StatusCallbackRecord,
    StoredMedia,
    TwilioFault,
    TypingIndicatorRecord,
)

__all__ = [
    "DEFAULT_MODELS",
    "ConversationState",
    "ModelEntry",
    "OpenAIFault",
    "OpenAIRequestRecord",
    "RecordLog",
    "SandboxStore",
    "TwilioMessageRecord",
]


class RecordLog[T]:
    """An append-only list (until cleared) whose readers can wait for a condition on it."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiters: list[tuple[Callable[[Sequence[T]], bool], asyncio.Future[None]]] = []
        self._subscribers: list[Callable[[T], None]] = []

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> list[T]:
        """A copy of the records, oldest first."""
        return list(self._items)

    def append(self, item: T) -> None:
        """Keep one record and wake every waiter whose condition now holds."""
        self._items.append(item)
        self._wake()
        for subscriber in list(self._subscribers):
            subscriber(item)

    def subscribe(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Call ``callback`` with every record appended from now on; returns the unsubscribe.

        Callbacks run synchronously inside :meth:`append`, so a subscriber sees records in
        order and never misses one between a snapshot and its subscription. They must not
        block or raise: an append is part of answering a request.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def clear(self) -> None:
        """Forget every record (waiters keep waiting, now against the empty list)."""
        self._items.clear()

    def notify(self) -> None:
        """Re-check the waiters after a record was changed in place."""
        self._wake()

    async def wait_until(self, condition: Callable[[Sequence[T]], bool], timeout: float) -> list[T]:
        """Return the records once ``condition(records)`` holds; TimeoutError after `timeout`."""
        if condition(self._items):
            return self.snapshot()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (condition, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.remove(entry)
        return self.snapshot()

    async def wait_for(self, count: int, timeout: float) -> list[T]:
        """Return the records once there are at least `count`; TimeoutError after `timeout`."""
        return await self.wait_until(lambda items: len(items) >= count, timeout)

    def _wake(self) -> None:
        for condition, future in self._waiters:
            if not future.done() and condition(self._items):
                future.set_result(None)


@dataclass(slots=True)
class TwilioMessageRecord:
    """One `Messages.json` create request, accepted (with its SID) or rejected (with a code)."""

    account_sid: str
    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: list[str]
    status_callback: str | None
    content_sid: str | None
    params: dict[str, list[str]]
    received_at: datetime
    accepted: bool
    status_code: int
    sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the inspection API shows it."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "body": self.body,
            "media_urls": list(self.media_urls),
            "status_callback": self.status_callback,
            "content_sid": self.content_sid,
            "params": {key: list(values) for key, values in self.params.items()},
            "received_at": self.received_at.isoformat(),
            "accepted": self.accepted,
            "status_code": self.status_code,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


def _shortened(url: str) -> str:
    """An image URL for the inspection API: a data URL's header and size, not its bytes."""
    if not url.startswith("data:"):
        return url
    header, _, data = url.partition(",")
    return f"{header},... ({len(data)} characters)"


@dataclass(slots=True)
class OpenAIRequestRecord:
    """One request to the OpenAI-compatible responder; the outcome is filled in when answered.

    ``images`` are the image URLs of the request's input (data URLs whole, for assertions);
    ``file`` describes an uploaded file (a transcription's audio): name, type and size.
    """

    endpoint: str
    method: str
    path: str
    received_at: datetime
    body: Any = None
    model: str | None = None
    instructions: Any = None
    safety_identifier: str | None = None
    conversation: str | None = None
    input: Any = None
    input_text: str | None = None
    metadata: Any = None
    status_code: int | None = None
    error_code: str | None = None
    response_id: str | None = None
    output_text: str | None = None
    images: list[str] = field(default_factory=list)
    file: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the inspection API shows it (`status_code` is null while in flight)."""
        return {
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "received_at": self.received_at.isoformat(),
            "model": self.model,
            "instructions": self.instructions,
            "safety_identifier": self.safety_identifier,
            "conversation": self.conversation,
            "input": self.input,
            "input_text": self.input_text,
            "metadata": self.metadata,
            "status_code": self.status_code,
            "error_code": self.error_code,
            "response_id": self.response_id,
            "output_text": self.output_text,
            "images": [_shortened(url) for url in self.images],
            "file": self.file,
            "body": self.body,
        }


@dataclass(slots=True)
class ConversationState:
    """A responder conversation: its items, how many responses it completed, and its lock."""

    id: str
    created_at: int
    metadata: dict[str, str]
    items: list[Any] = field(default_factory=list)
    completed_responses: int = 0
    active_response_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The conversation as OpenAI's Conversation object (plus nothing else)."""
        return {
            "id": self.id,
            "object": "conversation",
            "created_at": self.created_at,
            "metadata": dict(self.metadata),
        }


@dataclass(slots=True)
class ModelEntry:
    """A model the responder's models API knows, with its shutdown date (``YYYY-MM-DD``)."""

    id: str
    shutdown_date: str | None = None
    created: int = 1_761_436_800
    owned_by: str = "openai"

    def to_json(self) -> dict[str, Any]:
        """The entry as OpenAI's Model object."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
            "shutdown_date": self.shutdown_date,
        }


DEFAULT_MODELS = (
    ModelEntry("gpt-6.1-terra"),
    ModelEntry("gpt-transcribe"),
    ModelEntry("gpt-5-mini", shutdown_date="2026-12-11"),
    ModelEntry("gpt-4o-mini-transcribe", shutdown_date="2027-02-26"),
)
"""What the models API knows at start: today's defaults, and the two they replaced with the
shutdown dates of OpenAI's deprecations page (docs/conversation.md, *Model lifecycle*)."""


@dataclass(slots=True)
class OpenAIFault:
    """A failure the responder injects into the next `remaining` requests to `endpoint`.

    A request is hit only when its input text contains `match` (when set), and then only with
    `probability` (drawn from the store's seeded generator); `remaining` counts the hits.
    """

    kind: str
    endpoint: str
    remaining: int = 1
    retry_after: float | None = None
    seconds: float = 0.0
    probability: float = 1.0
    match: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The fault as the control endpoint shows it."""
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "count": self.remaining,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
            "probability": self.probability,
            "match": self.match,
        }


class SandboxStore:
    """Everything the sandbox remembers; one per app, on `app.state.store`.

    ``fault_rng`` decides which requests probabilistic faults hit; a seed makes a storm
    repeatable.
    """

    def __init__(
        self, fault_seed: int | None = None, models: Mapping[str, date | None] | None = None
    ) -> None:
        self._configured_models = [
            ModelEntry(model, shutdown.isoformat() if shutdown else None)
            for model, shutdown in (models or {}).items()
        ]
        self.fault_rng = random.Random(fault_seed)  # noqa: S311 - fault draws, not secrets
        self.twilio_messages: RecordLog[TwilioMessageRecord] = RecordLog()
        self.twilio_rejected: RecordLog[TwilioMessageRecord] = RecordLog()
        self.openai_requests: RecordLog[OpenAIRequestRecord] = RecordLog()
        self.conversations: dict[str, ConversationState] = {}
        self.models = self._known_models()
        self.openai_faults: list[OpenAIFault] = []
        self.twilio_faults: list[TwilioFault] = []
        self.twilio_typing: RecordLog[TypingIndicatorRecord] = RecordLog()
        self.twilio_status_callbacks: RecordLog[StatusCallbackRecord] = RecordLog()
        self.twilio_media: dict[str, StoredMedia] = {}
        self.twilio_media_fetches: RecordLog[MediaFetchRecord] = RecordLog()

    def _known_models(self) -> dict[str, ModelEntry]:
        entries = (*DEFAULT_MODELS, *self._configured_models)
        return {entry.id: dataclasses.replace(entry) for entry in entries}

    def clear(self) -> None:
        """Forget every record and conversation; the models API knows its start's models again."""
        self.models = self._known_models()
        self.twilio_messages.clear()
        self.twilio_rejected.clear()
        self.openai_requests.clear()
        self.conversations.clear()
        self.openai_faults.clear()
        self.twilio_faults.clear()
        self.twilio_typing.clear()
        self.twilio_status_callbacks.clear()
        self.twilio_media.clear()
        self.twilio_media_fetches.clear()
