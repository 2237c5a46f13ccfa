"""How the fake model uses function tools, from the user's words: ``lookup_order 1042`` calls
``lookup_order`` with ``{"order": "1042"}`` (the words after a name fill the schema's properties
in order); the outputs come back as ``<tool>: <output>`` lines under the echo. ``repeatedly``
calls again every round until ``tool_choice`` is ``none``; ``stubbornly`` ignores ``none`` too.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from chatbot_sandbox.openai.inputs import item, new_id
from chatbot_sandbox.openai.records import OpenAIRequestRecord

__all__ = ["answer_with", "calls_for"]

_AGAIN = "repeatedly"
_STUBBORN = "stubbornly"
_MARKS = (_AGAIN, _STUBBORN)


def calls_for(text: str, record: OpenAIRequestRecord, *, again: bool) -> list[dict[str, Any]]:
    """The ``function_call`` items of the calls the fake model makes: the function tools of the
    request that ``text`` names, with their arguments (on a round after outputs, only when
    ``again`` and the text says ``repeatedly``); hosted tools are accepted and not used."""
    words = text.split()
    if (record.tool_choice == "none" and _STUBBORN not in words) or (again and _AGAIN not in words):
        return []
    specs = [
        tool.get("function", tool) for tool in record.tools or () if tool["type"] == "function"
    ]
    functions = {spec["name"]: spec.get("parameters") or {} for spec in specs}
    words = [w for w in (word.strip(".,:;!?") for word in words) if w and w not in _MARKS]
    named = [index for index, word in enumerate(words) if word in functions]
    return [
        _call(words[start], functions[words[start]], words[start + 1 : end])
        for start, end in itertools.pairwise([*named, len(words)])
    ]


def _call(name: str, schema: Mapping[str, Any], values: Sequence[str]) -> dict[str, Any]:
    """A call of ``name``: the ``values`` fill the properties of its schema, in order."""
    arguments: dict[str, Any] = {}
    for (key, spec), value in zip((schema.get("properties") or {}).items(), values, strict=False):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in ("integer", "number") and re.fullmatch(r"-?\d+(\.\d+)?", value):
            arguments[key] = int(value) if kind == "integer" and value.isdigit() else float(value)
        else:
            arguments[key] = value
    call_id, encoded = new_id("call_"), json.dumps(arguments)
    return item("function_call", "fc_", call_id=call_id, name=name, arguments=encoded)


def answer_with(number: int, asked: str, outputs: Sequence[tuple[str, str]]) -> str:
    """The echo of ``asked``, with each function's output on a line of its own."""
    return "\n".join([f"Echo #{number}: {asked}", *(f"{name}: {out}" for name, out in outputs)])
