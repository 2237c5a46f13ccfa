"""What the chat's server and its clients agree on: paths, numbers and server-sent events.

An event is ``event:`` (its kind), ``data:`` (one line of JSON) and maybe ``id:``; a comment
line keeps an idle stream open.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EVENTS_PATH",
    "KEEPALIVE",
    "MESSAGES_PATH",
    "ServerSentEvent",
    "encode_event",
    "normalise_number",
    "read_events",
    "read_path",
]

MESSAGES_PATH = "/_sandbox/chat/messages"
EVENTS_PATH = "/_sandbox/chat/events"
KEEPALIVE = ": keepalive\n\n"
_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")


def read_path(message_sid: str) -> str:
    """Where a client says it showed a reply (the fake Twilio then reports it read)."""
    return f"/_sandbox/twilio/messages/{message_sid}/read"


def normalise_number(value: str) -> str:
    """A user's number as E.164 (``+15550001111``), however typed; ValueError if none."""
    number = _SEPARATORS.sub("", value.strip().removeprefix("whatsapp:"))
    if number.startswith("00"):
        number = "+" + number[2:]
    elif not number.startswith("+"):
        number = "+" + number
    if not _NUMBER.match(number):
        raise ValueError("a phone number in international format, e.g. +15550001111")
    return number


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event: its kind, its JSON payload as text, and its id (if any)."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        """The payload, decoded."""
        return json.loads(self.data)


def encode_event(event: str, data: Any, *, event_id: int | None = None) -> str:
    """One event in the wire format."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {event}", "data: " + json.dumps(data, separators=(",", ":"))]
    return "\n".join(lines) + "\n\n"


async def read_events(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Parse a stream's lines into events (comments and ``retry:`` are skipped)."""
    event, event_id, data = "message", None, list[str]()
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data), event_id)
            event, event_id, data = "message", None, list[str]()
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
