"""Chatwoot's webhooks for an API-channel inbox: their signature, and the desk events in them.

Chatwoot 4.15.1 signs ``"<X-Chatwoot-Timestamp>.<raw body>"`` with the inbox's secret
(HMAC-SHA256, sent as ``X-Chatwoot-Signature: sha256=<hex>``). Two of its events matter to a
handoff (docs/handoff.md): a human agent's public reply, and a status that hands the user back
to the bot. The conversation's ``custom_attributes.chatbot_user`` names the user.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.types import Scope

from chatbot_common.contracts import DeskEvent

from .asgi import header
from .desk import Desk, DeskPayloadError, DeskUpdate, field, is_user_key, json_object, optional

__all__ = ["CHATWOOT", "read_chatwoot"]

_DELIVERY = b"x-chatwoot-delivery"
_DELIVERY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
"""A delivery id as Chatwoot makes them (a uuid): safe in a ``Nats-Msg-Id`` header."""
_HANDBACK = frozenset({"resolved", "pending"})
"""Statuses that give the user back to the bot (pending is the bot's in Chatwoot's terms)."""


def read_chatwoot(scope: Scope, body: bytes, *, received_at: datetime) -> DeskUpdate | None:
    """The desk event in a webhook (its signature checked), or None when it is none that matters.

    Raises :class:`DeskPayloadError` naming the first problem.
    """
    payload = json_object(body)
    event = field(payload, "event", str)
    if event == "message_created":
        return _agent_message(payload, received_at)
    if event == "conversation_status_changed":
        return _handback(payload, header(scope, _DELIVERY), received_at)
    return None


def _agent_message(payload: dict[str, Any], received_at: datetime) -> DeskUpdate | None:
    """A person's public reply: outgoing, not private, sent by a user (not a bot).

    What our integration posts comes back too, and is skipped here: the user's messages are
    incoming, the handoff's notes private.
    """
    if field(payload, "message_type", str) != "outgoing" or field(payload, "private", bool):
        return None
    sender = payload.get("sender")
    if not isinstance(sender, dict) or sender.get("type") != "user":
        return None
    msg_id = f"chatwoot:message:{field(payload, 'id', int)}"
    conversation = field(payload, "conversation", dict)
    content = optional(payload, "content", str)
    name = sender.get("name")
    try:
        event = DeskEvent(
            desk="chatwoot",
            event="agent_message",
            conversation=str(field(conversation, "id", int, where="conversation.")),
            delivery_id=msg_id,
            body=content or "",
            media_urls=_media_urls(payload),
            agent=name if isinstance(name, str) and name else None,
            received_at=received_at,
        )
    except ValidationError as exc:
        raise DeskPayloadError(f"not an agent message: {exc.errors()[0]['msg']}") from None
    return DeskUpdate(event, _user(conversation))


def _handback(
    payload: dict[str, Any], delivery: str | None, received_at: datetime
) -> DeskUpdate | None:
    """A status that gives the user back to the bot; the payload is the conversation."""
    status = field(payload, "status", str)
    if status not in _HANDBACK:
        return None
    conversation = field(payload, "id", int)
    if not delivery:
        msg_id = f"chatwoot:status:{conversation}:{status}:{_changed_at(payload)}"
    elif _DELIVERY_ID.fullmatch(delivery):
        msg_id = f"chatwoot:{delivery}"
    else:
        raise DeskPayloadError("X-Chatwoot-Delivery is not a delivery id")
    event = DeskEvent(
        desk="chatwoot",
        event="handback",
        conversation=str(conversation),
        delivery_id=msg_id,
        status=status,
        received_at=received_at,
    )
    return DeskUpdate(event, _user(payload))


def _media_urls(payload: dict[str, Any]) -> tuple[str, ...]:
    attachments = payload.get("attachments") or []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise DeskPayloadError("attachments: not a list of objects")
    return tuple(url for a in attachments if isinstance(url := a.get("data_url"), str) and url)


def _user(conversation: dict[str, Any]) -> str | None:
    attributes = conversation.get("custom_attributes")
    user = attributes.get("chatbot_user") if isinstance(attributes, dict) else None
    return user if is_user_key(user) else None


def _changed_at(conversation: dict[str, Any]) -> str:
    """When the conversation last changed, for a ``Nats-Msg-Id`` without a delivery id."""
    for name in ("updated_at", "timestamp"):
        value = conversation.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    raise DeskPayloadError("without X-Chatwoot-Delivery, updated_at or timestamp is needed")


CHATWOOT = Desk(
    "chatwoot",
    timestamp_header="X-Chatwoot-Timestamp",
    signature_header="X-Chatwoot-Signature",
    user_field="custom_attributes.chatbot_user",
    read=read_chatwoot,
)
