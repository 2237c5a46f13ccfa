"""What a handoff needs of a helpdesk, whichever it is (docs/handoff.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..media.download import Download

__all__ = ["Desk", "DeskError", "DeskUser", "Forwarded"]


class DeskError(Exception):
    """The desk refused a request, or did not answer within the retries."""


@dataclass(frozen=True, slots=True)
class DeskUser:
    """Who is handed over: our key for them, their WhatsApp id and number, their name."""

    user_key: str
    wa_id: str = field(repr=False)
    phone: str = field(repr=False)
    name: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One of the user's messages for the person: its id (the Twilio MessageSid), its words
    (a voice note's transcript included), and its downloaded attachments."""

    message_id: str
    text: str
    files: tuple[Download, ...] = ()


class Desk(Protocol):
    """A helpdesk a user can be handed to. Every method raises :class:`DeskError`."""

    async def open(self, user: DeskUser, note: str, *, ref: str) -> str:
        """Open a conversation for ``user`` with ``note`` for the person; its id.

        ``ref`` names this handoff, the same when its turn runs again after a crash.
        """
        ...

    async def forward(
        self, conversation: str, messages: Sequence[Forwarded], *, again: bool
    ) -> int:
        """Post the user's messages in order; how many posted. ``again``: a re-run of the turn,
        which skips what an earlier run already posted."""
        ...

    async def close(self, conversation: str, note: str) -> None:
        """End the conversation from our side (we handed the user back), saying why."""
        ...

    async def forget(self, user: DeskUser) -> str:
        """Delete what the desk keeps of ``user`` (an erase); what became of it: ``deleted``,
        ``asked`` (the desk was told to), or ``none`` (it had nothing)."""
        ...
