"""A request read as OpenAI reads it (auth, JSON, messages, images, ranges), and its errors."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from chatbot_sandbox.openai.records import FaultSpec, OpenAIRequestRecord
from chatbot_sandbox.openai.settings import OpenAISettings

__all__ = [
    "LOCKED_MESSAGE",
    "QUOTA_MESSAGE",
    "ApiError",
    "answer",
    "check_auth",
    "fault_error",
    "invalid_type",
    "invalid_value",
    "json_object",
    "missing",
    "new_id",
    "read_chat",
    "read_items",
    "read_response",
]

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string"}
_TYPE_NAMES |= {list: "an array", dict: "an object", type(None): "null"}
_ROLES = ("user", "assistant", "system", "developer")
_ITEM_TYPES = ("message", "function_call_output")
MAX_ITEMS = 20
"""Items one ``conversations.items.create`` adds at most."""
_IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,(.*)$", re.DOTALL)
_MAX_SAFETY_IDENTIFIER = 64
_Range = tuple[type[int] | type[float], int | None, int | None]
_RESPONSE_RANGES: dict[str, _Range] = {
    "temperature": (float, 0, 2),
    "max_output_tokens": (int, 16, None),
}
_CHAT_RANGES: dict[str, _Range] = {
    "temperature": (float, 0, 2),
    "max_completion_tokens": (int, None, None),
    "max_tokens": (int, None, None),
}
"""Each numeric parameter's type (a decimal takes integers too) and bounds."""


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


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    got = _TYPE_NAMES.get(type(value), "an unknown value")
    message = f"Invalid type for '{param}': expected {expected}, but got {got} instead."
    return ApiError(400, message, param=param, code="invalid_type")


def invalid_value(value: Any, supported: tuple[str, ...], param: str) -> ApiError:
    names = [f"'{name}'" for name in supported]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}"
    message = f"Invalid value: '{value}'. Supported values are: {listed}."
    return ApiError(400, message, param=param, code="invalid_value")


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


def check_auth(request: Request, settings: OpenAISettings) -> None:
    """Bearer auth: any token, or the one SANDBOX_OPENAI_API_KEY names."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    expected = settings.openai_api_key.get_secret_value()
    if expected and not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(
            401,
            f"Incorrect API key provided: {token[:3]}***{token[-4:]}. This is the chatbot "
            "sandbox responder; use the key in SANDBOX_OPENAI_API_KEY.",
            code="invalid_api_key",
        )


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or OpenAI's 400 for anything else."""
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, _INVALID_JSON) from error
    if not isinstance(body, dict):
        raise ApiError(400, _INVALID_JSON)
    return body


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
    """Check a Responses request, noting what it asks on ``record``; its input messages, and
    the function call outputs it gives."""
    record.input = body.get("input")
    record.instructions = _string(body, "instructions")
    record.model = _string(body, "model", required=True)
    record.conversation = _string(body, "conversation")
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    value = _required(body, "input")
    outputs: list[Output] = []
    if isinstance(value, str):
        messages = [Message("user", value)]
    elif isinstance(value, list):
        messages = [
            _message(item, f"input[{index}]", record.images, chat=False)
            for index, item in enumerate(value)
            if not isinstance(item, dict) or item.get("type", "message") == "message"
        ]
        outputs = [
            _output(item, f"input[{index}]")
            for index, item in enumerate(value)
            if isinstance(item, dict) and item.get("type") == "function_call_output"
        ]
    else:
        raise invalid_type("input", "one of a string or array of input items", value)
    _check_ranges(body, _RESPONSE_RANGES)
    record.safety_identifier = _safety_identifier(body)
    record.input_text = "\n".join(m.text for m in messages if m.role == "user")
    return messages, outputs


def read_items(body: dict[str, Any], record: OpenAIRequestRecord) -> list[Message | Output]:
    """Check a Conversations ``items.create`` body, noting it on ``record``: its items, in
    order (messages and function call outputs; the fake takes no other input item)."""
    record.input = value = _required(body, "items")
    if not isinstance(value, list):
        raise invalid_type("items", "an array", value)
    if len(value) > MAX_ITEMS:
        raise ApiError(
            400,
            f"Invalid 'items': array too long. Expected an array with maximum length {MAX_ITEMS}"
            f", but got an array with length {len(value)} instead.",
            param="items",
            code="array_above_max_length",
        )
    items: list[Message | Output] = []
    for index, item in enumerate(value):
        param = f"items[{index}]"
        kind = item.get("type", "message") if isinstance(item, dict) else "message"
        if kind not in _ITEM_TYPES:
            raise invalid_value(kind, _ITEM_TYPES, f"{param}.type")
        if kind == "message":
            items.append(_message(item, param, record.images, chat=False))
        else:
            items.append(_output(item, param))
    return items


def _output(item: dict[str, Any], param: str) -> Output:
    call_id = _string(item, "call_id", required=True, parent=param)
    output = _required(item, "output", param)
    if not isinstance(output, str):
        raise invalid_type(f"{param}.output", "a string", output)
    assert call_id is not None
    return Output(call_id, output)


def read_chat(body: dict[str, Any], record: OpenAIRequestRecord) -> list[Message]:
    """Check a Chat Completions request, noting what it asks on ``record``; its messages."""
    record.model = _string(body, "model", required=True)
    record.input = value = _required(body, "messages")
    if not isinstance(value, list):
        raise invalid_type("messages", "an array", value)
    if not value:
        raise ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            param="messages",
            code="empty_array",
        )
    messages = [
        _message(item, f"messages[{index}]", record.images, chat=True)
        for index, item in enumerate(value)
    ]
    _check_ranges(body, _CHAT_RANGES)
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        raise ApiError(
            400,
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
            param="max_tokens",
            code="invalid_parameter_combination",
        )
    record.safety_identifier = _safety_identifier(body)
    record.instructions = [m.text for m in messages if m.role in ("system", "developer")]
    record.tools, record.tool_choice = body.get("tools"), body.get("tool_choice")
    # The last answer: an assistant message with text, not one asking for function calls.
    answered = max(
        (i for i, m in enumerate(value) if m["role"] == "assistant" and not m.get("tool_calls")),
        default=-1,
    )
    record.input_text = "\n".join(m.text for m in messages[answered + 1 :] if m.role == "user")
    return messages


def _required(body: dict[str, Any], key: str, parent: str = "") -> Any:
    if body.get(key) is None:
        raise missing(f"{parent}.{key}" if parent else key)
    return body[key]


def _string(
    body: dict[str, Any], key: str, *, required: bool = False, parent: str = ""
) -> str | None:
    value = _required(body, key, parent) if required else body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid_type(f"{parent}.{key}" if parent else key, "a string", value)
    return value


def _safety_identifier(body: dict[str, Any]) -> str | None:
    value = _string(body, "safety_identifier")
    if value is not None and len(value) > _MAX_SAFETY_IDENTIFIER:
        raise ApiError(
            400,
            "Invalid 'safety_identifier': string too long. Expected a string with maximum "
            f"length {_MAX_SAFETY_IDENTIFIER}, but got a string with length {len(value)} "
            "instead.",
            param="safety_identifier",
            code="string_above_max_length",
        )
    return value


def _check_ranges(body: dict[str, Any], ranges: Mapping[str, _Range]) -> None:
    for key, (number, low, high) in ranges.items():
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, number)):
            raise invalid_type(key, _TYPE_NAMES[number], value)
        if low is not None and value < low:
            raise _out_of_range(key, number, value, "below minimum", f">= {low}")
        if high is not None and value > high:
            raise _out_of_range(key, number, value, "above maximum", f"<= {high}")


def _out_of_range(
    key: str, number: type[float], value: float, where: str, expected: str
) -> ApiError:
    kind = "integer" if number is int else "decimal"
    message = f"Invalid '{key}': {kind} {where} value. Expected a value {expected}, but got "
    code = f"{kind}_{where.replace(' ', '_').replace('imum', '')}_value"
    return ApiError(400, message + f"{value} instead.", param=key, code=code)


def _message(item: Any, param: str, images: list[str], *, chat: bool) -> Message:
    if not isinstance(item, dict):
        raise invalid_type(param, "an object", item)
    role, content = item.get("role"), item.get("content")
    roles = (*_ROLES, "tool") if chat else _ROLES
    if not isinstance(role, str) or role not in roles:
        raise invalid_value(role, roles, f"{param}.role")
    if role == "tool":
        _string(item, "tool_call_id", required=True, parent=param)
    for index, call in enumerate(item.get("tool_calls") or () if chat else ()):
        call_param = f"{param}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise missing(f"{call_param}.function")
        _string(call, "id", required=True, parent=call_param)
        _string(function, "name", required=True, parent=f"{call_param}.function")
    if content is None and not (chat and role == "assistant"):
        raise missing(f"{param}.content")
    if content is None or isinstance(content, str):
        return Message(role, content or "")
    if not isinstance(content, list):
        expected = "one of a string or array of content parts"
        raise invalid_type(f"{param}.content", expected, content)
    text_part, image_part = ("text", "image_url") if chat else ("input_text", "input_image")
    texts = []
    for index, part in enumerate(content):
        part_param = f"{param}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == image_part:
            images.append(_image_url(part, part_param))
            texts.append("[image]")
        elif kind != text_part:
            raise invalid_value(kind, (text_part, image_part), f"{part_param}.type")
        elif not isinstance(part.get("text"), str):
            raise invalid_type(f"{part_param}.text", "a string", part.get("text"))
        else:
            texts.append(part["text"])
    return Message(role, "\n".join(texts))


def _image_url(part: dict[str, Any], param: str) -> str:
    """An image part's URL, checked: ``detail`` (required on ``input_image``) and data URL."""
    if part["type"] == "image_url":  # chat: {"image_url": {"url": ..., "detail": ...}}
        value = part.get("image_url")
        if not isinstance(value, dict):
            raise invalid_type(f"{param}.image_url", "an object", value)
        details: tuple[str, ...] = ("auto", "low", "high")
        param = f"{param}.image_url"
        url, detail, url_param = value.get("url"), value.get("detail") or "auto", f"{param}.url"
    else:  # responses: {"image_url": ..., "detail": ...}, the detail required
        details = ("low", "high", "auto", "original")
        url, detail = part.get("image_url"), _required(part, "detail", param)
        url_param = f"{param}.image_url"
    if detail not in details:
        raise invalid_value(detail, details, f"{param}.detail")
    if not isinstance(url, str):
        raise missing(url_param) if url is None else invalid_type(url_param, "a string", url)
    if url.startswith("data:"):
        match = _IMAGE_DATA_URL.match(url)
        try:
            valid = match is not None and bool(base64.b64decode(match[2], validate=True))
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ApiError(
                400,
                f"Invalid '{url_param}'. Expected a base64-encoded data URL with an image MIME "
                "type (png, jpeg, gif or webp).",
                param=url_param,
                code="invalid_image_url",
            )
    return url
