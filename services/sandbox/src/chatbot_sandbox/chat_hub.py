"""The chat page's transcript: what each local user sent, what the fake Twilio delivered back.

The chat page and ``make chat`` show a WhatsApp conversation, but the sandbox only sees its
pieces: the webhooks the page posts to ingress, the Messages creates the sender makes, the
status callbacks the fake Twilio posts and the typing indicators the sender asks for. The
hub joins them into one transcript per user and pushes every change to the open event
streams. It subscribes to the store's record logs, so it sees the same records the tests and
the inspection endpoints see, in the order they happened, and no request handler has to know
the chat exists.

Ticks follow what Twilio reports. On a reply (bot to user), they are the status callbacks:
queued, sent (✓), delivered (✓✓), read (blue ✓✓), or failed. On a user's own message: sent
once ingress answered 200 (the webhook is durably in JetStream), delivered once a reply to
that user arrives, read once the sender shows a typing indicator for it (WhatsApp's typing
indicator also marks the message read, as on a real phone).

Everything runs on the server's event loop, so there are no locks. Message text and phone
numbers stay in memory and in the streams: they are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from chatbot_sandbox.store import SandboxStore, TwilioMessageRecord
from chatbot_sandbox.twilio_records import StatusCallbackRecord, TypingIndicatorRecord

__all__ = [
    "END",
    "MAX_MESSAGES",
    "TYPING_LIFETIME",
    "ChatEvent",
    "ChatHub",
    "ChatMessage",
    "Subscription",
    "normalise_number",
]

MAX_MESSAGES = 5000
"""Messages kept across all users; the oldest go first (the sandbox lives in memory)."""
TYPING_LIFETIME = timedelta(seconds=25)
"""WhatsApp hides a typing indicator after 25 s, or when the reply arrives."""
_QUEUE_SIZE = 1000
_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")
_RANK = {
    "pending": 0,
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 0,
    "sent": 1,
    "delivered": 2,
    "read": 3,
}
_FAILED = frozenset({"failed", "undelivered", "canceled"})

Direction = Literal["in", "out"]
ChatEvent = tuple[str, dict[str, Any]]
"""An event for the streams: its name (message, status, typing) and its JSON payload."""
END: ChatEvent = ("end", {})
"""Queued last on a stream that is being closed: its reader stops there."""


def normalise_number(value: str) -> str:
    """A WhatsApp user's number as E.164 (`+15550001111`); ValueError if it is not one.

    People type numbers with spaces, dashes, brackets, without the plus, or copy the
    `whatsapp:` address from a log: all of these name the same user.
    """
    number = _SEPARATORS.sub("", value.strip().removeprefix("whatsapp:"))
    if number.startswith("00"):
        number = "+" + number[2:]
    elif not number.startswith("+"):
        number = "+" + number
    if not _NUMBER.match(number):
        raise ValueError("a phone number in international format, e.g. +15550001111")
    return number


@dataclass(slots=True)
class ChatMessage:
    """One bubble: a user's message (``in``) or a reply the fake Twilio accepted (``out``)."""

    id: str
    user: str
    direction: Direction
    body: str
    at: datetime
    status: str
    media_urls: list[str] = field(default_factory=list)
    media: list[dict[str, str | None]] = field(default_factory=list)
    """A user's attachments: ``url``, ``content_type`` and ``preview_url`` (for the page)."""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The message as the streams and the page see it."""
        return {
            "id": self.id,
            "user": self.user,
            "direction": self.direction,
            "body": self.body,
            "media_urls": list(self.media_urls),
            "media": [dict(item) for item in self.media],
            "at": self.at.isoformat(),
            "status": self.status,
            "error": self.error,
        }

    def advance(self, status: str, error: str | None = None) -> bool:
        """Move to ``status`` if it is news (ticks never go back); whether it changed."""
        if self.status == status or self.status == "read":
            return False
        if status in _FAILED:
            self.status, self.error = status, error
            return True
        if self.status in _FAILED or _RANK.get(status, -1) <= _RANK.get(self.status, -1):
            return False
        self.status = status
        return True


@dataclass(eq=False)
class Subscription:
    """One open event stream: the events for its user (or everyone) queue up here."""

    user: str | None
    queue: asyncio.Queue[ChatEvent]
    ended: bool = False

    def offer(self, event: ChatEvent) -> None:
        """Queue an event; a reader that fell this far behind is cut off (it reconnects)."""
        if self.ended:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.ended = True

    def end(self) -> None:
        """End the stream: its reader stops after the events already queued."""
        if not self.ended:
            self.offer(END)
            self.ended = True


class ChatHub:
    """Transcripts per user, built from the store's records, broadcast to the streams."""

    def __init__(self, store: SandboxStore) -> None:
        self._messages: OrderedDict[str, ChatMessage] = OrderedDict()
        # Each user's messages too, oldest first: a reply or a typing request looks at one
        # user's messages, not through everyone's (the benchmarks drive thousands of users).
        self._by_user: dict[str, dict[str, ChatMessage]] = {}
        self._typing: dict[str, datetime] = {}
        self._subscriptions: set[Subscription] = set()
        store.twilio_messages.subscribe(self._on_twilio_message)
        store.twilio_status_callbacks.subscribe(self._on_status_callback)
        store.twilio_typing.subscribe(self._on_typing)

    def messages(self, user: str | None = None) -> list[ChatMessage]:
        """The transcript, oldest first: one user's, or everyone's."""
        if user is None:
            return list(self._messages.values())
        return list(self._by_user.get(user, {}).values())

    def get(self, message_id: str) -> ChatMessage | None:
        """A message by its Twilio SID."""
        return self._messages.get(message_id)

    def snapshot(self, user: str | None = None) -> dict[str, Any]:
        """Everything a new stream starts from: the transcript and who is being typed to."""
        now = datetime.now(UTC)
        return {
            "messages": [message.to_json() for message in self.messages(user)],
            "typing": [
                {"user": who, "until": (at + TYPING_LIFETIME).isoformat()}
                for who, at in self._typing.items()
                if (user is None or who == user) and now - at < TYPING_LIFETIME
            ],
        }

    @contextlib.contextmanager
    def subscribe(self, user: str | None = None) -> Iterator[tuple[Subscription, dict[str, Any]]]:
        """Open a stream: its queue and the snapshot it starts from, taken at the same moment.

        Both happen without an await in between, so no event falls between the snapshot and
        the first queued event, and none is seen twice.
        """
        subscription = Subscription(user, asyncio.Queue(_QUEUE_SIZE))
        self._subscriptions.add(subscription)
        try:
            yield subscription, self.snapshot(user)
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every open stream (the server is shutting down and waits for them)."""
        for subscription in list(self._subscriptions):
            subscription.end()

    @property
    def subscribers(self) -> int:
        """How many streams are open (for tests and the config endpoint)."""
        return len(self._subscriptions)

    def add_inbound(
        self,
        message_sid: str,
        user: str,
        body: str,
        media: list[dict[str, str | None]] | None = None,
    ) -> ChatMessage:
        """Record a user's message just before its webhook goes to ingress (clock tick)."""
        message = ChatMessage(
            id=message_sid,
            user=user,
            direction="in",
            body=body,
            at=datetime.now(UTC),
            status="pending",
            media_urls=[str(item["url"]) for item in media or []],
            media=list(media or []),
        )
        self._add(message)
        return message

    def update(self, message_id: str, status: str, error: str | None = None) -> None:
        """Move a message's ticks on and tell the streams (unknown ids are ignored)."""
        message = self._messages.get(message_id)
        if message is not None and message.advance(status, error):
            self._publish(
                message.user,
                (
                    "status",
                    {
                        "id": message.id,
                        "user": message.user,
                        "status": message.status,
                        "error": message.error,
                    },
                ),
            )

    def _add(self, message: ChatMessage) -> None:
        self._messages[message.id] = message
        self._by_user.setdefault(message.user, {})[message.id] = message
        while len(self._messages) > MAX_MESSAGES:
            _, oldest = self._messages.popitem(last=False)
            own = self._by_user[oldest.user]
            del own[oldest.id]
            if not own:
                del self._by_user[oldest.user]
        self._publish(message.user, ("message", message.to_json()))

    def _publish(self, user: str, event: ChatEvent) -> None:
        for subscription in list(self._subscriptions):
            if subscription.user is None or subscription.user == user:
                subscription.offer(event)

    def _on_twilio_message(self, record: TwilioMessageRecord) -> None:
        if record.sid is None or record.to is None:
            return
        try:
            user = normalise_number(record.to)
        except ValueError:
            return
        self._typing.pop(user, None)
        for message in self.messages(user):
            if message.direction == "in":
                self.update(message.id, "delivered")
        self._add(
            ChatMessage(
                id=record.sid,
                user=user,
                direction="out",
                body=record.body or "",
                at=record.received_at,
                status="queued",
                media_urls=list(record.media_urls),
            )
        )

    def _on_status_callback(self, record: StatusCallbackRecord) -> None:
        error = record.params.get("ErrorCode")
        self.update(record.message_sid, record.status, f"Twilio error {error}" if error else None)

    def _on_typing(self, record: TypingIndicatorRecord) -> None:
        if record.status_code != 200 or record.message_id is None:
            return
        message = self._messages.get(record.message_id)
        if message is None or message.direction != "in":
            return
        self._typing[message.user] = record.received_at
        for earlier in self.messages(message.user):
            if earlier.direction == "in":
                self.update(earlier.id, "read")
            if earlier is message:
                break
        until = record.received_at + TYPING_LIFETIME
        self._publish(message.user, ("typing", {"user": message.user, "until": until.isoformat()}))
