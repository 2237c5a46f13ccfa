"""What the assistant says on its own: command answers, limits, and the apology.

These are the only texts the service writes itself; the model writes the rest. They are short
and plain (WhatsApp shows them as they are), and say what the user can do next. An attachment
the assistant could not take in gets a notice naming the limit it hit; notices come before
the model's answer in the same reply, so the user gets one message per turn.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "APOLOGY",
    "DESK_SLOW",
    "DESK_UNAVAILABLE",
    "HELP",
    "OVER_BUDGET",
    "REPLY_CUT",
    "RESET_DONE",
    "TRANSCRIPTION_FAILED",
    "capped",
    "input_too_long",
    "media_too_large",
    "media_too_many",
    "media_unavailable",
    "media_unsupported",
    "rate_limited",
    "rate_limited_partly",
    "size_in_words",
    "with_notices",
]

HELP = (
    "I am an AI assistant: send me a message, a photo or a voice note and I answer it, "
    "remembering what we talked about. My answers are written by an AI model and can be wrong.\n\n"
    "Commands:\n"
    "/reset - start a new conversation (I forget the current one)\n"
    "/help - show this message"
)

DESK_UNAVAILABLE = (
    "Sorry, I could not reach our team just now. Please write again in a few minutes."
)
DESK_SLOW = (
    "Our team has not received your last message yet; a person will answer as soon as they can."
)
RESET_DONE = "Done: I started a new conversation and forgot our previous one. How can I help?"

APOLOGY = "Sorry, I could not answer that just now. Please try again in a few minutes."

OVER_BUDGET = (
    "You have reached today's usage limit, so I cannot answer more messages today. "
    "Please come back tomorrow."
)


def rate_limited(limit: int) -> str:
    """The notice for a user sending more than ``limit`` messages a minute."""
    return (
        f"You are sending messages faster than I can answer (more than {limit} a minute). "
        "Please wait a minute, then send your message again."
    )


def rate_limited_partly(limit: int, skipped: int) -> str:
    """The notice for a burst that crossed the limit: the first messages were answered."""
    those = "message" if skipped == 1 else f"{skipped} messages"
    again = "it" if skipped == 1 else "them"
    return (
        f"You are sending messages faster than I can answer (more than {limit} a minute), "
        f"so I did not read your last {those}. Please wait a minute, then send {again} again."
    )


def input_too_long(limit: int) -> str:
    """The notice for a message longer than a turn takes (``TURN_MAX_INPUT_CHARS``)."""
    return (
        f"Your message is too long for me, so I only read its first {limit:,} characters. "
        "Please send the rest in shorter messages."
    )


REPLY_CUT = "[My answer was too long, so I cut it short here.]"


def capped(text: str, limit: int) -> str:
    """``text`` of at most ``limit`` characters: cut at a paragraph, line or word if it is longer.

    The cut is marked (:data:`REPLY_CUT`), so the user knows the answer goes on.
    """
    if len(text) <= limit:
        return text
    room = max(0, limit - len(REPLY_CUT) - 2)
    start = text[:room]
    for boundary in ("\n\n", "\n", " "):
        at = start.rfind(boundary)
        if at >= room * 4 // 5:
            start = start[:at]
            break
    return "\n\n".join(part for part in (start.rstrip(), REPLY_CUT) if part)


TRANSCRIPTION_FAILED = (
    "Sorry, I could not listen to your voice note just now. Please try again, or type your message."
)


def size_in_words(size: int) -> str:
    """A byte count as people say it: ``10 MB``, ``512 KB``."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def media_unavailable(noun: str) -> str:
    """The apology for an attachment that could not be downloaded."""
    return f"Sorry, I could not download your {noun}. Please try sending it again."


def media_unsupported(what: str) -> str:
    """The notice for an attachment of a kind the assistant cannot open (``what``: plural)."""
    return (
        f"Sorry, I can't open {what}. I understand text messages, photos and voice notes, "
        "so you can describe it or send it as one of those."
    )


def media_too_large(noun: str, limit: int) -> str:
    """The notice for an attachment over the size limit."""
    return (
        f"Sorry, your {noun} is too large for me: I can open files of up to {size_in_words(limit)}."
    )


def media_too_many(limit: int, skipped: int) -> str:
    """The notice for a message with more attachments than the assistant looks at."""
    others = "other one" if skipped == 1 else f"other {skipped}"
    return f"I look at up to {limit} attachments per message, so I skipped the {others}."


def with_notices(notices: Sequence[str], answer: str = "") -> str:
    """One reply: the notices (each once, in order), then the answer."""
    return "\n\n".join([*dict.fromkeys(notices), *([answer] if answer else [])])
