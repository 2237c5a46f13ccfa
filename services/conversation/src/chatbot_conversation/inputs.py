"""What a turn reads from an inbound message: a command, or the prompt the model is given.

A :class:`Prompt` is one message's words (text, button, location, transcript, a note about an
attachment) and its images. The wording the model reads is all here; :mod:`.media.attachments`
decides which of it applies.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from chatbot_common.contracts import Button, InboundMessage, Location

__all__ = [
    "CUT_MARK",
    "EMPTY_MESSAGE",
    "IMAGE_MARK",
    "Command",
    "Image",
    "Prompt",
    "bounded",
    "command_of",
    "message_words",
    "text_prompt",
    "transcribed",
    "unopened",
]

Command = Literal["reset", "help"]

EMPTY_MESSAGE = "[The user sent a message without text.]"
IMAGE_MARK = "[The user sent a photo.]"
"""What stands for an image where only text is kept (the chat backend's history)."""

CUT_MARK = "[The rest of this message is left out: it was too long.]"
"""What the model reads where a turn's input was cut to its bound."""

_COMMANDS: dict[str, Command] = {"/reset": "reset", "/help": "help"}


@dataclass(frozen=True, slots=True)
class Image:
    """An image the model is shown, from its authenticated download (never its URL)."""

    content_type: str
    data: bytes

    def data_url(self) -> str:
        """The image inline, as the model APIs take it: ``data:<type>;base64,...``."""
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the model is given for one inbound message: its words, then its images."""

    text: str
    images: tuple[Image, ...] = ()

    def as_text(self) -> str:
        """The prompt in words only, each image marked where it was."""
        return "\n".join(part for part in (self.text, *(IMAGE_MARK for _ in self.images)) if part)


def command_of(message: InboundMessage) -> Command | None:
    """The command a message is (`/reset`, `/help`, any case, surrounding space ignored)."""
    return _COMMANDS.get(message.body.strip().lower())


def _button(button: Button) -> str | None:
    label = button.text or button.payload
    if not label:
        return None
    said = f'[The user tapped the button "{label}"'
    if button.payload and button.payload != label:
        said += f" (payload: {button.payload})"
    return said + "]"


def _location(location: Location) -> str:
    named = ", ".join(part for part in (location.label, location.address) if part)
    where = f"latitude {location.latitude}, longitude {location.longitude}"
    if named:
        return f"[The user shared a location: {named} ({where})]"
    return f"[The user shared a location: {where}]"


def message_words(message: InboundMessage) -> list[str]:
    """The message's own words: its text, the button it pressed, the location it shared.

    WhatsApp puts a pressed quick-reply button's text in the body as well: the body is then
    left out, so the model reads the press once.
    """
    words: list[str] = []
    pressed = message.button
    button = _button(pressed) if pressed is not None else None
    body = message.body.strip()
    if body and not (button is not None and pressed is not None and body == pressed.text):
        words.append(message.body)
    if button is not None:
        words.append(button)
    if message.location is not None:
        words.append(_location(message.location))
    return words


def text_prompt(message: InboundMessage) -> Prompt:
    """The prompt of a message without attachments."""
    return Prompt("\n".join(message_words(message)) or EMPTY_MESSAGE)


def transcribed(transcript: str) -> str:
    """A voice note, as the model reads it."""
    if not transcript.strip():
        return "[The user sent a voice note without words.]"
    return f"[Voice note, transcribed:] {transcript.strip()}"


def unopened(noun: str, why: str) -> str:
    """An attachment the model does not get, and why (the user is told separately)."""
    return f"[The user sent {noun} that you cannot see or hear: {why}.]"


def bounded(prompts: Sequence[Prompt], limit: int) -> tuple[tuple[Prompt, ...], bool]:
    """``prompts`` with at most ``limit`` characters of text in all, and whether any was cut.

    Turns are cut at whole messages to stay within the bound (:func:`.mailbox.next_segment`);
    what is still over it (one message longer than the bound, a long voice note's transcript)
    keeps its start, and the model is told the rest is left out. Images are kept: their size
    has its own limits.
    """
    left = limit
    kept: list[Prompt] = []
    cut = False
    for prompt in prompts:
        if len(prompt.text) <= left:
            kept.append(prompt)
            left -= len(prompt.text)
            continue
        cut = True
        start = prompt.text[:left].rstrip()
        kept.append(Prompt("\n".join(part for part in (start, CUT_MARK) if part), prompt.images))
        left = 0
    return tuple(kept), cut
