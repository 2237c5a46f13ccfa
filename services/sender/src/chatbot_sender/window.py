"""WhatsApp's 24-hour window: the re-engagement a free-form message asks for when it finds the
user's window closed (docs/outreach.md)."""

from __future__ import annotations

from chatbot_common.contracts import OutboundMessage

__all__ = ["reengage_key", "reengagement"]


def reengage_key(user_key: str, message: OutboundMessage) -> str:
    """The re-engagement's idempotency key: one per closed window of the user (one per message
    when its window is not known), so that a closed window is never asked about twice."""
    opened = message.window_opened_at
    if opened is None:
        return f"{message.idempotency_key}.reengage"
    return f"{user_key}.reengage.{int(opened.timestamp())}"


def reengagement(user_key: str, message: OutboundMessage) -> OutboundMessage:
    """The request for the re-engagement template, in place of ``message``."""
    return OutboundMessage(
        kind="reengage",
        to=message.to,
        from_=message.from_,
        messaging_service_sid=message.messaging_service_sid,
        idempotency_key=reengage_key(user_key, message),
        outreach=message.outreach,
    )
