"""Reading a request as OpenAI checks it: JSON, auth, messages, image parts and ranges."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from chatbot_sandbox.openai.errors import ApiError, invalid_type, invalid_value, missing
from chatbot_sandbox.openai.settings import OpenAISettings

__all__ = [
    "CHAT_RANGES",
    "RESPONSE_RANGES",
    "Message",
    "chat_messages",
    "check_auth",
    "check_ranges",
    "json_object",
    "required",
    "response_messages",
    "safety_identifier",
    "string",
]

_INVALID_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,(.*)$", re.DOTALL)
_MAX_SAFETY_IDENTIFIER = 64


@dataclass(frozen=True, slots=True)
class Range:
    """The type and bounds OpenAI puts on a numeric parameter."""

    integer: bool
    minimum: int | None = None
    maximum: int | None = None


RESPONSE_RANGES = {"temperature": Range(False, 0, 2), "max_output_tokens": Range(True, 16)}
CHAT_RANGES = {
    "temperature": Range(False, 0, 2),
    "max_completion_tokens": Range(True),
    "max_tokens": Range(True),
}


@dataclass(frozen=True, slots=True)
class _Parts:
    """A message format's content parts: the text one and the image one (``[image]``)."""

    text: str
    image: str
    roles: tuple[str, ...]


_RESPONSE_PARTS = _Parts("input_text", "input_image", ("user", "assistant", "system", "developer"))
_CHAT_PARTS = _Parts("text", "image_url", ("system", "developer", "user", "assistant"))


@dataclass(frozen=True, slots=True)
class Message:
    """The text of one input message (an image stands in as ``[image]``)."""

    role: str
    text: str


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


async def json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or OpenAI's 400 for anything else."""
    raw = await request.body()
    if allow_empty and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, _INVALID_JSON) from error
    if not isinstance(body, dict):
        raise ApiError(400, _INVALID_JSON)
    return body


def required(body: dict[str, Any], key: str, parent: str = "") -> Any:
    """``body[key]``, or the missing parameter error."""
    if body.get(key) is None:
        raise missing(f"{parent}.{key}" if parent else key)
    return body[key]


def string(body: dict[str, Any], key: str) -> str | None:
    """An optional string parameter."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid_type(key, "a string", value)
    return value


def safety_identifier(body: dict[str, Any]) -> str | None:
    """The ``safety_identifier``, at most 64 characters."""
    value = string(body, "safety_identifier")
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


def check_ranges(body: dict[str, Any], ranges: dict[str, Range]) -> None:
    """Check the numeric parameters given against their type and bounds."""
    for key, bounds in ranges.items():
        value = body.get(key)
        if value is None:
            continue
        kind, number = ("integer", int) if bounds.integer else ("decimal", int | float)
        if isinstance(value, bool) or not isinstance(value, number):
            raise invalid_type(key, f"a{'n' if bounds.integer else ''} {kind}", value)
        if bounds.minimum is not None and value < bounds.minimum:
            raise _out_of_range(key, value, kind, "below minimum", f">= {bounds.minimum}")
        if bounds.maximum is not None and value > bounds.maximum:
            raise _out_of_range(key, value, kind, "above maximum", f"<= {bounds.maximum}")


def _out_of_range(key: str, value: float, kind: str, what: str, expected: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{key}': {kind} {what} value. Expected a value {expected}, but got {value} "
        "instead.",
        param=key,
        code=f"{kind}_{what.replace(' ', '_').replace('imum', '')}_value",
    )


def response_messages(value: Any, images: list[str]) -> list[Message]:
    """The messages of a response's ``input`` (a string or items); image URLs go to ``images``."""
    if isinstance(value, str):
        return [Message("user", value)]
    if not isinstance(value, list):
        raise invalid_type("input", "one of a string or array of input items", value)
    return [
        _message(item, f"input[{index}]", _RESPONSE_PARTS, images)
        for index, item in enumerate(value)
        if not isinstance(item, dict) or item.get("type", "message") == "message"
    ]


def chat_messages(value: Any, images: list[str]) -> list[Message]:
    """A chat completion's ``messages`` (an assistant's content may be null)."""
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
    return [
        _message(item, f"messages[{index}]", _CHAT_PARTS, images)
        for index, item in enumerate(value)
    ]


def _message(item: Any, param: str, parts: _Parts, images: list[str]) -> Message:
    if not isinstance(item, dict):
        raise invalid_type(param, "an object", item)
    role = item.get("role")
    if role not in parts.roles:
        raise invalid_value(role, parts.roles, f"{param}.role")
    content = item.get("content")
    if content is None and not (role == "assistant" and parts is _CHAT_PARTS):
        raise missing(f"{param}.content")
    return Message(role, _text(content, f"{param}.content", parts, images))


def _text(content: Any, param: str, parts: _Parts, images: list[str]) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise invalid_type(param, "one of a string or array of content parts", content)
    texts = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == parts.text and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == parts.image:
            images.append(_image_url(part, part_param))
            texts.append("[image]")
        elif kind == parts.text:
            raise invalid_type(f"{part_param}.text", "a string", part.get("text"))
        else:
            raise invalid_value(kind, (parts.text, parts.image), f"{part_param}.type")
    return "\n".join(texts)


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
        url, detail = part.get("image_url"), required(part, "detail", param)
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
