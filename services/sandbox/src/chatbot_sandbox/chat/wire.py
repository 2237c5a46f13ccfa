"""What the chat's server and its clients agree on: paths, numbers, and reading the server's
events (FastAPI's server-sent events: each an ``event:`` line and one ``data:`` line of JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

__all__ = ["EVENTS_PATH", "MESSAGES_PATH", "normalise_number", "read_events", "read_path"]

MESSAGES_PATH = "/_sandbox/chat/messages"
EVENTS_PATH = "/_sandbox/chat/events"
_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")
_INTERNATIONAL_PREFIX = re.compile(r"^(\+|00)")


def read_path(message_sid: str) -> str:
    """Where a client says it showed a reply (the fake Twilio then reports it read)."""
    return f"/_sandbox/twilio/messages/{message_sid}/read"


def normalise_number(value: str) -> str:
    """A user's number as E.164 (``+15550001111``), however typed; ValueError if none."""
    typed = _SEPARATORS.sub("", value).removeprefix("whatsapp:")
    number = "+" + _INTERNATIONAL_PREFIX.sub("", typed)
    if not _NUMBER.match(number):
        raise ValueError("a phone number in international format, e.g. +15550001111")
    return number


async def read_events(lines: AsyncIterable[str]) -> AsyncIterator[tuple[str, Any]]:
    """A stream's events as (kind, decoded data), each taken at its one ``data:`` line; comments
    and other fields are skipped."""
    event = "message"
    async for line in lines:
        name, _, value = line.rstrip("\r\n").partition(": ")
        if name == "event":
            event = value
        elif name == "data":
            yield event, json.loads(value)
            event = "message"
