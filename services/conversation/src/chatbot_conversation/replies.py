"""What the assistant says on its own: command answers, limits, and the apology.

These are the only texts the service writes itself; the model writes the rest. They are short
and plain (WhatsApp shows them as they are), and say what the user can do next.
"""

from __future__ import annotations

__all__ = ["APOLOGY", "HELP", "OVER_BUDGET", "RESET_DONE", "rate_limited"]

HELP = (
    "I am an AI assistant: send me a message and I answer it, remembering what we talked "
    "about. My answers are written by an AI model and can be wrong.\n\n"
    "Commands:\n"
    "/reset - start a new conversation (I forget the current one)\n"
    "/help - show this message"
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
