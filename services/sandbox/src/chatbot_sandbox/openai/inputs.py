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
    "MAX_ITEMS",
    "QUOTA_MESSAGE",
    "ApiError",
    "answer",
    "check_auth",
    "fault_error",
    "missing",
    "new_id",
    "read_chat",
    "read_items",
    "read_response",
]

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
MAX_ITEMS = 20
"""Items one ``conversations.items.create`` adds at most."""
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def new_id(prefix: str) -> str:
    """An id as OpenAI writes them: a prefix and random hex."""
    return prefix + uuid.uuid4().hex


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


def missing(param: str) -> ApiError:
    message = f"Missing required parameter: '{param}'."
    return ApiError(400, message, param=param, code="missing_required_parameter")


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
        return ApiError(
            429, message, code="rate_limit_exceeded", error_type="requests", headers=headers
        )
    if fault.kind == "insufficient_quota":
        kind = "insufficient_quota"
        return ApiError(429, QUOTA_MESSAGE, code=kind, error_type=kind)
    if fault.kind == "conversation_locked":
        return ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
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


@dataclass(frozen=True, slots=True)
class Message:
    """The text of one input message (an image stands in as ``[image]``)."""

    role: str
    text: str


@dataclass(frozen=True, slots=True)
class Output:
    """A ``function_call_output`` input item: the call it answers and what it says."""

    call_id: str
    output: str


def read_response(
    body: dict[str, Any], record: OpenAIRequestRecord
) -> tuple[list[Message], list[Output]]:
    """Read a Responses request onto ``record``: its input messages, and the function call
    outputs it gives (other input items are not read)."""
    record.model, record.input = _required(body, "model"), _required(body, "input")
    record.instructions, record.conversation = body.get("instructions"), body.get("conversation")
    record.safety_identifier = body.get("safety_identifier")
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    given = record.input
    if isinstance(given, str):
        given = [{"role": "user", "content": given}]
    messages = [
        _message(item, record.images, chat=False)
        for item in given
        if item.get("type", "message") == "message"
    ]
    outputs = [_output(item) for item in given if item.get("type") == "function_call_output"]
    record.input_text = "\n".join(m.text for m in messages if m.role == "user")
    return messages, outputs


def read_items(body: dict[str, Any], record: OpenAIRequestRecord) -> list[Message | Output]:
    """Read a Conversations ``items.create`` body onto ``record``: its messages and function
    call outputs, in order."""
    record.input = given = _required(body, "items")
    if len(given) > MAX_ITEMS:  # the conversation service sends its items in batches of 20
        raise ApiError(
            400,
            f"Invalid 'items': array too long. Expected an array with maximum length {MAX_ITEMS}"
            f", but got an array with length {len(given)} instead.",
            param="items",
            code="array_above_max_length",
        )
    return [
        _output(item)
        if item.get("type") == "function_call_output"
        else _message(item, record.images, chat=False)
        for item in given
    ]


def read_chat(body: dict[str, Any], record: OpenAIRequestRecord) -> list[Message]:
    """Read a Chat Completions request onto ``record``: its messages."""
    record.model, record.input = _required(body, "model"), _required(body, "messages")
    given = record.input
    messages = [_message(item, record.images, chat=True) for item in given]
    record.instructions = [m.text for m in messages if m.role in ("system", "developer")]
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    # The last answer: an assistant message with text, not one asking for function calls.
    answered = max(
        (i for i, m in enumerate(given) if m["role"] == "assistant" and not m.get("tool_calls")),
        default=-1,
    )
    record.input_text = "\n".join(m.text for m in messages[answered + 1 :] if m.role == "user")
    return messages


def _required(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise missing(key)
    return body[key]


def _output(item: dict[str, Any]) -> Output:
    return Output(item["call_id"], item["output"])


def _message(item: dict[str, Any], images: list[str], *, chat: bool) -> Message:
    """One message's text; an image stands in as ``[image]`` (other parts are not read)."""
    content = item.get("content")
    if not isinstance(content, list):
        return Message(item["role"], content or "")
    text_part, image_part = ("text", "image_url") if chat else ("input_text", "input_image")
    texts = []
    for part in content:
        if part["type"] == image_part:
            url = part["image_url"]
            images.append(url["url"] if chat else url)
            texts.append("[image]")
        elif part["type"] == text_part:
            texts.append(part["text"])
    return Message(item["role"], "\n".join(texts))
