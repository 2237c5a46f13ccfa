"""The chat's transcript: each local user's messages and the replies, with their ticks (a
reply's from its status callbacks; a user's: sent once ingress took it, delivered once a reply
comes, read once a typing indicator names it), and the fake Chatwoot's changes (the desk).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from chatbot_sandbox.chat.wire import normalise_number
from chatbot_sandbox.process import SandboxStore
from chatbot_sandbox.records import record_json
from chatbot_sandbox.twilio.records import (
    StatusCallbackRecord,
    TwilioMessageRecord,
    TypingIndicatorRecord,
)

__all__ = ["END", "MAX_MESSAGES", "ChatHub", "ChatMessage"]

MAX_MESSAGES = 5000
"""Messages kept across all users; the oldest go first."""
TYPING_LIFETIME = timedelta(seconds=25)
"""WhatsApp hides a typing indicator after 25 s, or when the reply arrives."""
_QUEUE_SIZE = 1000
_FINAL = ("read", "failed", "undelivered", "canceled")
_RANK = {"pending": 0, "queued": 0, "sent": 1, "delivered": 2} | dict.fromkeys(_FINAL, 3)

ChatEvent = tuple[str, dict[str, Any]]
"""An event for the streams: its name (message, status, typing, desk) and its payload."""
END: ChatEvent = ("end", {})
"""Queued last on a stream being closed."""


@dataclass(slots=True)
class ChatMessage:
    """One bubble: a user's message (``in``) or a reply the fake Twilio accepted (``out``)."""

    id: str
    user: str
    direction: Literal["in", "out"]
    body: str
    status: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    media_urls: list[str] = field(default_factory=list)
    media: list[dict[str, str | None]] = field(default_factory=list)
    """A user's attachments: ``url``, ``content_type`` and ``preview_url``."""
    profile_name: str | None = None
    error: str | None = None

    def advance(self, status: str, error: str | None = None) -> bool:
        """Move on to ``status`` if it is news (ticks never go back); whether it moved."""
        if _RANK.get(status, -1) <= _RANK.get(self.status, -1):
            return False
        self.status, self.error = status, error
        return True


class ChatHub:
    """Transcripts per user, built from the fake Twilio's records, broadcast to the streams."""

    def __init__(self, store: SandboxStore) -> None:
        self._messages: OrderedDict[str, ChatMessage] = OrderedDict()
        # Each user's too: a reply looks through one user's messages, not everyone's.
        self._by_user: dict[str, dict[str, ChatMessage]] = {}
        self._typing: dict[str, datetime] = {}
        self._streams: dict[asyncio.Queue[ChatEvent], str | None] = {}  # each one's user, or None
        store.twilio_messages.subscribe(self._on_twilio_message)
        store.twilio_status_callbacks.subscribe(self._on_status_callback)
        store.twilio_typing.subscribe(self._on_typing)
        store.chatwoot_changes.subscribe(self._on_desk_change)

    def messages(self, user: str | None = None) -> list[ChatMessage]:
        """The transcript, oldest first: one user's, or everyone's."""
        if user is None:
            return list(self._messages.values())
        return list(self._by_user.get(user, {}).values())

    def snapshot(self, user: str | None = None) -> dict[str, Any]:
        """What a new stream starts from: the transcript and who is being typed to."""
        now = datetime.now(UTC)
        return {
            "messages": [record_json(message) for message in self.messages(user)],
            "typing": [
                {"user": who, "until": (at + TYPING_LIFETIME).isoformat()}
                for who, at in self._typing.items()
                if user in (None, who) and now - at < TYPING_LIFETIME
            ],
        }

    @contextlib.contextmanager
    def subscribe(
        self, user: str | None = None
    ) -> Iterator[tuple[asyncio.Queue[ChatEvent], dict[str, Any]]]:
        """Open a stream of ``user``'s events (or everyone's): its queue, ended by END, and its
        snapshot, taken with no await in between."""
        queue = asyncio.Queue[ChatEvent](_QUEUE_SIZE)
        self._streams[queue] = user
        try:
            yield queue, self.snapshot(user)
        finally:
            self._streams.pop(queue, None)

    def close(self) -> None:
        """End every open stream (the server is shutting down and waits for them)."""
        for queue in list(self._streams):
            self._end(queue)

    def add(self, message: ChatMessage) -> None:
        """Show a message: a user's, just before its webhook goes out, or a reply."""
        self._messages[message.id] = message
        self._by_user.setdefault(message.user, {})[message.id] = message
        while len(self._messages) > MAX_MESSAGES:
            _, oldest = self._messages.popitem(last=False)
            own = self._by_user[oldest.user]
            del own[oldest.id]
            if not own:
                del self._by_user[oldest.user]
        self._publish(message.user, "message", record_json(message))

    def update(self, message_id: str, status: str, error: str | None = None) -> None:
        """Move a message's ticks on and tell the streams (unknown ids are ignored)."""
        message = self._messages.get(message_id)
        if message is not None and message.advance(status, error):
            update = {"id": message.id, "user": message.user, "status": status, "error": error}
            self._publish(message.user, "status", update)

    def _publish(self, user: str | None, name: str, data: dict[str, Any]) -> None:
        """Tell the streams of ``user`` and of everyone (None: only everyone's)."""
        for queue, wanted in list(self._streams.items()):
            if wanted in (None, user):
                try:
                    queue.put_nowait((name, data))
                except asyncio.QueueFull:  # a reader this far behind starts again, afresh
                    self._end(queue, dropping_queued=True)

    def _end(self, queue: asyncio.Queue[ChatEvent], *, dropping_queued: bool = False) -> None:
        """Queue END, and nothing after it, on a stream (making room for it). Dropping what is
        queued makes its reader reconnect at once, and start from a new snapshot."""
        del self._streams[queue]
        while not queue.empty() and (dropping_queued or queue.full()):
            queue.get_nowait()
        queue.put_nowait(END)

    def _on_desk_change(self, conversation_id: int) -> None:
        self._publish(None, "desk", {"conversation": conversation_id})

    def _on_twilio_message(self, record: TwilioMessageRecord) -> None:
        try:
            user = normalise_number(record.to or "")
        except ValueError:
            return
        self._typing.pop(user, None)
        for message in self.messages(user):
            if message.direction == "in":
                self.update(message.id, "delivered")
        reply = ChatMessage(record.sid or "", user, "out", record.body or "", "queued")
        reply.at, reply.media_urls = record.received_at, list(record.media_urls)
        self.add(reply)

    def _on_status_callback(self, record: StatusCallbackRecord) -> None:
        code = record.error_code
        self.update(record.message_sid, record.status, f"Twilio error {code}" if code else None)

    def _on_typing(self, record: TypingIndicatorRecord) -> None:
        message = self._messages.get(record.message_id or "")
        if record.status_code != 200 or message is None or message.direction != "in":
            return
        self._typing[message.user] = record.received_at
        for earlier in self.messages(message.user):
            if earlier.direction == "in":
                self.update(earlier.id, "read")
            if earlier is message:
                break
        until = (record.received_at + TYPING_LIFETIME).isoformat()
        self._publish(message.user, "typing", {"user": message.user, "until": until})
