"""Server-sent events: writing them for the chat stream, and reading them back.

The chat page uses the browser's EventSource; the terminal client and the tests read the same
stream with httpx. Both sides live here so the format is written once: ``event:`` names the
kind, ``data:`` is one line of JSON, ``id:`` counts events, and a comment line keeps idle
connections (and the proxies between) from timing out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["KEEPALIVE", "ServerSentEvent", "encode_event", "read_events"]

KEEPALIVE = ": keepalive\n\n"
"""An SSE comment: ignored by clients, but it makes a dead connection fail on write."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a stream: its kind, its JSON payload as text, and its id (if any)."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        """The payload, decoded."""
        return json.loads(self.data)


def encode_event(event: str, data: Any, *, event_id: int | None = None) -> str:
    """One event in the wire format; ``data`` is JSON-encoded on a single line."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    lines += [f"event: {event}", "data: " + json.dumps(data, separators=(",", ":"))]
    return "\n".join(lines) + "\n\n"


async def read_events(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Parse a stream's lines into events (comments and ``retry:`` are skipped)."""
    event = "message"
    event_id: str | None = None
    data_lines: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if line == "":
            if data_lines:
                yield ServerSentEvent(event, "\n".join(data_lines), event_id)
            event, data_lines, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data_lines.append(value)
        elif name == "id":
            event_id = value
