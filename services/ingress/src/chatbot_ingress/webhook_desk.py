"""The generic webhook desk's events (docs/handoff.md, "The generic webhook desk").

Any helpdesk posts a person's message (``agent_message``) or a hand-back (``handback``) as a
JSON object, signed with ``HANDOFF_WEBHOOK_SECRET`` in ``X-Chatbot-Timestamp`` and
``X-Chatbot-Signature``. ``user`` names the user; ``webhook:<conversation>:<id>`` is the
event's ``Nats-Msg-Id``, so a repeat is dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Scope

from chatbot_common.contracts import DeskEvent

from .desk import Desk, DeskPayloadError, DeskUpdate, field, is_user_key, json_object, optional

__all__ = ["WEBHOOK", "read_webhook"]

_HEADER_SAFE = re.compile(r"[!-~]{1,128}")
"""Printable ASCII without spaces, 1 to 128 characters: safe in a ``Nats-Msg-Id`` header."""
_SCHEMES = frozenset({"http", "https"})


def read_webhook(_scope: Scope, body: bytes, *, received_at: datetime) -> DeskUpdate | None:
    """The desk event in a webhook, or None when its ``event`` is none that matters.

    Raises :class:`DeskPayloadError` naming the first problem.
    """
    payload = json_object(body)
    event = field(payload, "event", str)
    if event not in ("agent_message", "handback"):
        return None
    conversation = _header_safe("conversation", field(payload, "conversation", str))
    msg_id = f"webhook:{conversation}:{_id(payload)}"
    user = field(payload, "user", str)
    if event == "agent_message":
        text = optional(payload, "text", str) or ""
        media_urls = _media_urls(payload)
        if not (text.strip() or media_urls):
            raise DeskPayloadError("text or media_urls: an agent message needs one")
        desk_event = DeskEvent(
            desk="webhook",
            event="agent_message",
            conversation=conversation,
            delivery_id=msg_id,
            body=text,
            media_urls=media_urls,
            agent=optional(payload, "agent", str) or None,
            received_at=received_at,
        )
    else:
        desk_event = DeskEvent(
            desk="webhook",
            event="handback",
            conversation=conversation,
            delivery_id=msg_id,
            received_at=received_at,
        )
    return DeskUpdate(desk_event, user if is_user_key(user) else None)


def _id(payload: dict[str, Any]) -> str:
    """The desk's id of the event: a string or a number."""
    value = payload.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DeskPayloadError("id: missing, or not a string or a number")
    return _header_safe("id", str(value))


def _header_safe(name: str, value: str) -> str:
    if not _HEADER_SAFE.fullmatch(value):
        raise DeskPayloadError(f"{name}: not 1 to 128 printable ASCII characters without spaces")
    return value


def _media_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    urls = optional(payload, "media_urls", list) or []
    if not all(isinstance(url, str) and _is_http_url(url) for url in urls):
        raise DeskPayloadError("media_urls: not a list of http(s) URLs")
    return tuple(urls)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    printable = url.isprintable() and " " not in url
    return printable and parts.scheme in _SCHEMES and bool(parts.hostname)


WEBHOOK = Desk(
    "webhook",
    timestamp_header="X-Chatbot-Timestamp",
    signature_header="X-Chatbot-Signature",
    user_field="user",
    read=read_webhook,
)
