"""The responder, a deterministic echo and not a model: what it reads of a request, and what it
answers. A reply is ``Echo #N: <user text>``: N counts the answers before it (in the
conversation, or the assistant messages sent) plus one. Usage counts words.

It reads messages (an image stands in as ``[image]``) and function call outputs. It calls the
function tools the user's words name: ``lookup_order 1042`` calls ``lookup_order`` with
``{"order": "1042"}`` (the words after a name fill the schema's properties in order); the outputs
come back as ``<tool>: <output>`` lines under the echo. ``repeatedly`` calls again every round
until ``tool_choice`` is ``none``; ``stubbornly`` ignores ``none`` too.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from chatbot_sandbox.openai.records import ConversationState, OpenAIRequestRecord

__all__ = [
    "complete_chat",
    "input_items",
    "new_id",
    "read_chat",
    "read_response",
    "respond",
    "words",
]

_AGAIN, _STUBBORN = "repeatedly", "stubbornly"
_MARKS = (_AGAIN, _STUBBORN)


def new_id(prefix: str) -> str:
    """An id as OpenAI writes them: a prefix and random hex."""
    return prefix + uuid.uuid4().hex


def _item(kind: str, prefix: str, **fields: Any) -> dict[str, Any]:
    """A completed item of a conversation, with a new id."""
    return {"type": kind, "id": new_id(prefix), **fields, "status": "completed"}


def read_response(body: dict[str, Any], record: OpenAIRequestRecord) -> list[dict[str, Any]]:
    """Read a Responses request onto ``record``: its input as conversation items."""
    record.model, record.input = body["model"], body.get("input", [])
    record.instructions, record.conversation = body.get("instructions"), body.get("conversation")
    record.safety_identifier = body.get("safety_identifier")
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    given = record.input
    if isinstance(given, str):
        given = [{"role": "user", "content": given}]
    items = input_items(given, record)
    record.input_text = "\n".join(_said(one) for one in items if one.get("role") == "user")
    return items


def input_items(given: list[dict[str, Any]], record: OpenAIRequestRecord) -> list[dict[str, Any]]:
    """Input items as a conversation keeps them: messages (their text in one part) and function
    call outputs (other items are not read)."""
    items = []
    for one in given:
        if one.get("type") == "function_call_output":
            items.append(_item(one["type"], "fco_", call_id=one["call_id"], output=one["output"]))
        elif one.get("type", "message") == "message":
            part = {"type": "input_text", "text": _text(one["content"], record)}
            items.append(_item("message", "msg_", role=one["role"], content=[part]))
    return items


def read_chat(
    body: dict[str, Any], record: OpenAIRequestRecord
) -> tuple[int, list[tuple[str, str]], int]:
    """Read a Chat Completions request onto ``record``: the number of its answer, the outputs
    given since the last user or system message (by function name), and the words sent."""
    record.model, record.input = body["model"], body["messages"]
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    given: list[dict[str, Any]] = record.input
    roles = [message["role"] for message in given]
    texts = [_text(message.get("content"), record) for message in given]
    record.instructions = [t for i, t in enumerate(texts) if roles[i] in ("system", "developer")]
    # An answer: an assistant message with text, not one asking for function calls.
    answers = [
        i for i, m in enumerate(given) if m["role"] == "assistant" and not m.get("tool_calls")
    ]
    after = answers[-1] + 1 if answers else 0
    record.input_text = "\n".join(
        t for i, t in enumerate(texts) if i >= after and roles[i] == "user"
    )
    asked = max(i for i, role in enumerate(roles) if role in ("user", "system", "developer"))
    names = {c["id"]: c["function"]["name"] for m in given for c in m.get("tool_calls") or ()}
    outputs = [
        (names[m["tool_call_id"]], m["content"]) for m in given[asked + 1 :] if m["role"] == "tool"
    ]
    return len(answers) + 1, outputs, words(*texts)


def complete_chat(
    record: OpenAIRequestRecord, number: int, outputs: Sequence[tuple[str, str]]
) -> tuple[dict[str, Any], int]:
    """A chat completion's message, the calls or the echo answer ``number``; and its words."""
    asked = record.input_text or ""
    calls = _calls_for(asked, record, again=bool(outputs))
    reply = None if calls else _echo(number, asked, outputs)
    message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": call["call_id"], "type": "function"}
            | {"function": {"name": call["name"], "arguments": call["arguments"]}}
            for call in calls
        ]
    return message, words(reply or "", *(call["arguments"] for call in calls))


def respond(
    conversation: ConversationState, given: list[dict[str, Any]], record: OpenAIRequestRecord
) -> tuple[list[dict[str, Any]], int, int]:
    """A response's output items (its reasoning, then its calls or its echo), which the
    conversation keeps after ``given``; and the words it read and wrote.

    It reads the items added since the last answer, then ``given``: a user message is a new ask
    (outputs with it only close calls left open); outputs alone continue the last one.
    """
    read = _unread(conversation.items) + given
    messages = [_said(one) for one in read if one["type"] == "message"]
    outputs = [one for one in read if one["type"] == "function_call_output"]
    if asked := [_said(one) for one in read if one.get("role") == "user"]:
        conversation.asked = "\n".join(asked)
    calls = _calls_for(conversation.asked, record, again=not asked)
    # Current models reason first; at `minimal` effort it costs no tokens.
    output = [{"type": "reasoning", "id": new_id("rs_"), "summary": []}, *calls]
    reply = ""
    if not calls:
        made = {one["call_id"]: one["name"] for one in conversation.items if "name" in one}
        named = [] if asked else [(made.get(one["call_id"], ""), one["output"]) for one in outputs]
        number = 1 + sum(one.get("role") == "assistant" for one in conversation.items)
        reply = _echo(number, conversation.asked, named)
        content = [{"type": "output_text", "text": reply, "annotations": []}]
        output.append(_item("message", "msg_", role="assistant", content=content))
    conversation.items += given + output
    read_words = words(record.instructions or "", *messages, *(one["output"] for one in outputs))
    return output, read_words, words(reply, *(call["arguments"] for call in calls))


def words(*texts: str) -> int:
    """Tokens, as the fake counts them: words."""
    return sum(len(text.split()) for text in texts)


def _unread(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items added since the last answer: a response's (its output starts with its
    reasoning), or an assistant message."""
    for end in range(len(items), 0, -1):
        if items[end - 1]["type"] == "reasoning" or items[end - 1].get("role") == "assistant":
            return items[end:]
    return items


def _said(message: dict[str, Any]) -> str:
    """The text of a message item (one part, as :func:`input_items` keeps it)."""
    return str(message["content"][0]["text"])


def _text(content: Any, record: OpenAIRequestRecord) -> str:
    """A message's text; an image stands in as ``[image]`` (other parts are not read)."""
    if not isinstance(content, list):
        return str(content or "")
    texts = []
    for part in content:
        if part["type"] in ("input_image", "image_url"):  # Responses', Chat Completions'
            url = part["image_url"]
            record.images.append(url["url"] if isinstance(url, dict) else url)
            texts.append("[image]")
        elif part["type"] in ("input_text", "text"):
            texts.append(part["text"])
    return "\n".join(texts)


def _calls_for(text: str, record: OpenAIRequestRecord, *, again: bool) -> list[dict[str, Any]]:
    """The ``function_call`` items of the calls the fake model makes: the function tools of the
    request that ``text`` names, with their arguments (on a round after outputs, only when
    ``again`` and the text says ``repeatedly``); hosted tools are accepted and not used."""
    words = text.split()
    if (record.tool_choice == "none" and _STUBBORN not in words) or (again and _AGAIN not in words):
        return []
    tools = [tool for tool in record.tools or () if tool["type"] == "function"]
    specs = [tool.get("function", tool) for tool in tools]  # Chat Completions nest it
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
    return _item("function_call", "fc_", call_id=call_id, name=name, arguments=encoded)


def _echo(number: int, asked: str, outputs: Sequence[tuple[str, str]]) -> str:
    """The echo of ``asked``, with each function's output on a line of its own."""
    return "\n".join([f"Echo #{number}: {asked}", *(f"{name}: {out}" for name, out in outputs)])
