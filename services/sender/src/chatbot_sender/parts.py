"""What one OutboundMessage becomes at Twilio: who sends it, and its numbered parts.

A part's index is its key in CHAT_DELIVERIES, so the plan depends only on the message and the
settings: the text's parts first, then one per media URL (at most ten); a template is one part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chatbot_common.contracts import OutboundMessage

from .formatting import to_whatsapp
from .splitting import split_text
from .twilio_client import Sender

__all__ = ["MAX_MEDIA", "InvalidReply", "Part", "plan_parts", "sender_of"]

MAX_MEDIA = 10


class InvalidReply(ValueError):
    """A reply that cannot be sent as it is; ``code`` says why in one fixed word."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Part:
    """One Twilio message of a reply: a text part, one media URL, or a template."""

    index: int
    body: str | None = None
    media_url: str | None = None
    content_sid: str | None = None
    content_variables: str | None = None
    """The template's variables as Twilio takes them: a JSON object."""


def sender_of(message: OutboundMessage, default: Sender) -> Sender:
    """The message's own sender, else the configured one; a Messaging Service wins."""
    service = message.messaging_service_sid or default.messaging_service_sid
    if service:
        return Sender(messaging_service_sid=service)
    number = message.from_ or default.from_
    if not number:
        raise InvalidReply("no_sender")
    return Sender(from_=number)


def plan_parts(message: OutboundMessage, *, media: bool) -> list[Part]:
    """The parts of a reply, in the order they must reach the user."""
    if message.kind == "template":
        variables = json.dumps(message.content_variables) if message.content_variables else None
        return [Part(0, content_sid=message.content_sid, content_variables=variables)]
    urls = list(message.media_urls)
    if len(urls) > MAX_MEDIA:
        raise InvalidReply("too_many_media")
    text = to_whatsapp(message.body) or message.body.strip()
    if not media and urls:
        text = "\n\n".join(block for block in (text, "\n".join(urls)) if block)
        urls = []
    bodies = split_text(text)
    return [Part(index, body=body) for index, body in enumerate(bodies)] + [
        Part(len(bodies) + offset, media_url=url) for offset, url in enumerate(urls)
    ]
