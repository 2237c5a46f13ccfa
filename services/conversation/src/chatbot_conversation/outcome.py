"""What a turn came to: the state to commit, a label for the metrics, and what to say."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatbot_common.contracts import OutboundMessage

from .state import ConversationState

__all__ = ["Afterwards", "TurnOutcome"]

type Afterwards = Callable[[ConversationState], Awaitable[ConversationState]]
"""Work a turn does once its message is out, before it commits: the state it gives is kept."""


@dataclass(frozen=True)
class TurnOutcome:
    """A turn's result. ``answer`` is text for whoever wrote the turn's messages; ``message``
    is an addressed message (a person's, or a notice in a desk event's turn). At most one.
    ``afterwards`` runs once it is out, so what it waits for does not delay the user.
    ``forget``: the user's state is deleted once committed (an erase), if nothing follows."""

    state: ConversationState
    label: str
    answer: str | None = None
    message: OutboundMessage | None = None
    afterwards: Afterwards | None = None
    forget: bool = False
