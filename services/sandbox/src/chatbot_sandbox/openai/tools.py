"""How the fake model uses function tools, from the user's words: ``lookup_order 1042`` calls
``lookup_order`` with ``{"order": "1042"}`` (the words after a name fill the schema's properties
in order); the outputs come back as ``<tool>: <output>`` lines under the echo. ``repeatedly``
calls again every round until ``tool_choice`` is ``none``; ``stubbornly`` ignores ``none`` too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chatbot_sandbox.openai.inputs import new_id

__all__ = ["Call", "answer_with", "calls_for", "offered"]

_AGAIN = "repeatedly"
_STUBBORN = "stubbornly"
_MARKS = (_AGAIN, _STUBBORN)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call the fake model makes."""

    call_id: str
    name: str
    arguments: str


def offered(tools: Any, *, chat: bool) -> dict[str, Mapping[str, Any]]:
    """The function tools of a request: name to parameters schema (hosted tools are accepted
    and not used)."""
    functions: dict[str, Mapping[str, Any]] = {}
    for tool in tools or ():
        if tool.get("type") == "function":
            spec = tool["function"] if chat else tool
            functions[spec["name"]] = spec.get("parameters") or {}
    return functions


def calls_for(
    text: str, functions: Mapping[str, Mapping[str, Any]], *, tool_choice: Any, again: bool
) -> list[Call]:
    """The calls the fake model makes: the functions ``text`` names, with their arguments (on a
    round after outputs, only when ``again`` and the text says ``repeatedly``)."""
    words = text.split()
    if tool_choice == "none" and _STUBBORN not in words:
        return []
    if not functions or (again and _AGAIN not in words):
        return []
    words = [word.strip(".,:;!?") for word in words]
    named = [index for index, word in enumerate(words) if word in functions]
    calls = []
    for position, start in enumerate(named):
        end = named[position + 1] if position + 1 < len(named) else len(words)
        values = [word for word in words[start + 1 : end] if word and word not in _MARKS]
        arguments = json.dumps(_arguments(functions[words[start]], values))
        calls.append(Call(new_id("call_"), words[start], arguments))
    return calls


def _arguments(schema: Mapping[str, Any], values: Sequence[str]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for (name, spec), value in zip(properties.items(), values, strict=False):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in ("integer", "number") and re.fullmatch(r"-?\d+(\.\d+)?", value):
            arguments[name] = int(value) if kind == "integer" and value.isdigit() else float(value)
        else:
            arguments[name] = value
    return arguments


def answer_with(number: int, asked: str, outputs: Sequence[tuple[str, str]]) -> str:
    """The echo of ``asked``, with each function's output on a line of its own."""
    return "\n".join([f"Echo #{number}: {asked}", *(f"{name}: {out}" for name, out in outputs)])
