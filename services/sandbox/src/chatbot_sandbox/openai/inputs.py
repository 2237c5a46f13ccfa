"""A request read as OpenAI reads it (auth, messages, images, call outputs), and its errors."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from chatbot_sandbox.openai.records import FaultSpec, OpenAIRequestRecord

__all__ = [
    "LOCKED_MESSAGE",
    "QUOTA_MESSAGE",
    "ApiError",
    "answer",
    "check_auth",
    "fault_error",
    "item",
    "new_id",
    "read_chat",
    "read_items",
    "read_response",
    "text",
]

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_MAX_ITEMS = 20
"""Items one ``conversations.items.create`` adds at most."""


def new_id(prefix: str) -> str:
    """An id as OpenAI writes them: a prefix and random hex."""
    return prefix + uuid.uuid4().hex


def item(kind: str, prefix: str, **fields: Any) -> dict[str, Any]:
    """A completed item of a conversation, with a new id."""
    return {"type": kind, "id": new_id(prefix), **fields, "status": "completed"}


def text(message: dict[str, Any]) -> str:
    """The text of a message item (one part, as :func:`read_items` keeps it)."""
    return str(message["content"][0]["text"])


def answer(
    payload: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON answer with OpenAI's ``x-request-id`` header."""
    return JSONResponse(
        payload, status, headers={"x-request-id": new_id("req_"), **(headers or {})}
    )


@dataclass
class ApiError(Exception):
    """An error answer in OpenAI's shape."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None
    error_type: str = "invalid_request_error"
    headers: Mapping[str, str] | None = None

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.error_type, "param": self.param}
        return answer({"error": {**error, "code": self.code}}, self.status, self.headers)


def fault_error(fault: FaultSpec) -> ApiError:
    """What a queued fault answers (every kind but ``stall``)."""
    if fault.kind == "rate_limit":
        wait, headers = "", {}
        if fault.retry_after is not None:
            wait = f" Please try again in {fault.retry_after:g}s."
            headers = {
                "retry-after": str(math.ceil(fault.retry_after)),
                "retry-after-ms": str(round(fault.retry_after * 1000)),
            }
        message = "Rate limit reached for requests (sandbox fault)." + wait
        return ApiError(429, message, None, "rate_limit_exceeded", "requests", headers)
    if fault.kind == "insufficient_quota":
        return ApiError(429, QUOTA_MESSAGE, None, fault.kind, fault.kind)
    if fault.kind == "conversation_locked":
        return ApiError(400, LOCKED_MESSAGE, code=fault.kind)
    message = "The server had an error while processing your request. Sorry about that!"
    return ApiError(500, message, error_type="server_error")


def check_auth(request: Request) -> None:
    """Bearer auth with any token (the fake never sees a real key)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )


def read_response(body: dict[str, Any], record: OpenAIRequestRecord) -> list[dict[str, Any]]:
    """Read a Responses request onto ``record``: its input as conversation items."""
    record.model, record.input = body["model"], body["input"]
    record.instructions, record.conversation = body.get("instructions"), body.get("conversation")
    record.safety_identifier = body.get("safety_identifier")
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    given = record.input
    items = _items(
        [{"role": "user", "content": given}] if isinstance(given, str) else given, record
    )
    record.input_text = "\n".join(text(one) for one in items if one.get("role") == "user")
    return items


def read_items(body: dict[str, Any], record: OpenAIRequestRecord) -> list[dict[str, Any]]:
    """Read a Conversations ``items.create`` body onto ``record``: the items to add, in order."""
    record.input = given = body.get("items")
    if given is None:
        message = "Missing required parameter: 'items'."
        raise ApiError(400, message, "items", "missing_required_parameter")
    if len(given) > _MAX_ITEMS:  # the conversation service sends its items in batches of 20
        raise ApiError(
            400,
            f"Invalid 'items': array too long. Expected an array with maximum length {_MAX_ITEMS}"
            f", but got an array with length {len(given)} instead.",
            "items",
            "array_above_max_length",
        )
    return _items(given, record)


def read_chat(
    body: dict[str, Any], record: OpenAIRequestRecord
) -> tuple[int, list[tuple[str, str]], str]:
    """Read a Chat Completions request onto ``record``: the number of its answer, the outputs
    given since the last user or system message (by function name), and all the text sent."""
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
    return len(answers) + 1, outputs, "\n".join(texts)


def _items(given: list[dict[str, Any]], record: OpenAIRequestRecord) -> list[dict[str, Any]]:
    """Input items as a conversation keeps them: messages (their text in one part) and function
    call outputs (other items are not read)."""
    items = []
    for one in given:
        if one.get("type") == "function_call_output":
            items.append(item(one["type"], "fco_", call_id=one["call_id"], output=one["output"]))
        elif one.get("type", "message") == "message":
            part = {"type": "input_text", "text": _text(one["content"], record)}
            items.append(item("message", "msg_", role=one["role"], content=[part]))
    return items


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
