"""What a turn reads from an inbound message: a command, or the text the model is given.

WhatsApp messages are not only text: attachments, shared locations and button presses arrive
as fields of the webhook. The model is told about them in words, so a photo without a caption
still gets an answer instead of an empty prompt.
"""

from __future__ import annotations

from typing import Literal

from chatbot_common.contracts import InboundMessage

__all__ = ["EMPTY_MESSAGE", "Command", "command_of", "model_text"]

Command = Literal["reset", "help"]

EMPTY_MESSAGE = "[The user sent a message without text.]"

_COMMANDS: dict[str, Command] = {"/reset": "reset", "/help": "help"}


def command_of(message: InboundMessage) -> Command | None:
    """The command a message is (`/reset`, `/help`, any case, surrounding space ignored)."""
    return _COMMANDS.get(message.body.strip().lower())


def model_text(message: InboundMessage) -> str:
    """The text the model is given for one message."""
    parts = [message.body] if message.body.strip() else []
    if not parts and message.button is not None and (message.button.text or message.button.payload):
        parts.append(
            f"[The user pressed the button: {message.button.text or message.button.payload}]"
        )
    parts.extend(
        f"[The user sent an attachment: {media.content_type or 'a file'}]"
        for media in message.media
    )
    if (location := message.location) is not None:
        named = ", ".join(part for part in (location.label, location.address) if part)
        where = f"{location.latitude}, {location.longitude}" + (f" ({named})" if named else "")
        parts.append(f"[The user shared a location: {where}]")
    return "\n".join(parts) or EMPTY_MESSAGE
