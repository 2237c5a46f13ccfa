"""The built-in ``handoff_to_human`` function, offered to the model when a desk is set."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..tools import ToolCall, error_output

__all__ = ["HANDOFF_FUNCTION", "HandoffAsk", "asked_for_a_person", "chat_param", "request_param"]

HANDOFF_FUNCTION = "handoff_to_human"

_DESCRIPTION = (
    "Hand the user to a person on our team. Use it when the user asks for a person, or when "
    "you cannot help and a person could. The person sees your summary; you stop answering "
    "until they hand the user back."
)
_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "description": "Why a person is needed, in a few words."},
        "summary": {
            "type": "string",
            "description": "What the user wants and what was tried, in a few sentences.",
        },
    },
    "required": ["reason", "summary"],
    "additionalProperties": False,
}
_HANDED = json.dumps({"handed_off": True})
_NOT_RUN = "not run: the user is being handed to a person"
_MAX_CHARS = 2000
"""Characters of the model's reason and summary kept (they go to the desk as a note)."""


@dataclass(frozen=True)
class HandoffAsk:
    """The model's call: why, and a summary for the person."""

    reason: str
    summary: str

    @classmethod
    def of(cls, call: ToolCall) -> HandoffAsk:
        """The call's arguments, read leniently: a person is asked for even when they are bad."""
        try:
            given = json.loads(call.arguments)
        except ValueError:
            given = {}
        if not isinstance(given, dict):
            given = {}
        return cls(
            reason=str(given.get("reason") or "")[:_MAX_CHARS],
            summary=str(given.get("summary") or "")[:_MAX_CHARS],
        )


def request_param() -> dict[str, Any]:
    """The function as the Responses API's ``tools`` entry."""
    return {
        "type": "function",
        "name": HANDOFF_FUNCTION,
        "description": _DESCRIPTION,
        "parameters": _PARAMETERS,
        "strict": True,
    }


def chat_param() -> dict[str, Any]:
    """The function as Chat Completions' ``tools`` entry."""
    function = {"name": HANDOFF_FUNCTION, "description": _DESCRIPTION, "parameters": _PARAMETERS}
    return {"type": "function", "function": function}


def asked_for_a_person(calls: Sequence[ToolCall]) -> tuple[HandoffAsk, list[str]] | None:
    """The model's hand-off among ``calls``, and an output for each call (the others are not
    run: the user is leaving the model); None when it did not ask."""
    asked = next((call for call in calls if call.name == HANDOFF_FUNCTION), None)
    if asked is None:
        return None
    outputs = [
        _HANDED if call.name == HANDOFF_FUNCTION else error_output(_NOT_RUN) for call in calls
    ]
    return HandoffAsk.of(asked), outputs
