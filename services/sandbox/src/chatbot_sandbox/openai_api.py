"""A local, deterministic OpenAI-compatible responder (Conversations, Responses, Chat, Audio).

The conversation service uses the official `openai` SDK; with `OPENAI_BASE_URL` pointing here
it runs offline, in dev and in tests, through the same code path as in production. Replies are
not model output: each is `Echo #N: <user text>`. In a conversation N counts the responses
completed in it; in a chat completion N is one more than the assistant messages sent, so tests
can tell turns apart and see how much history a caller sent. Image input is accepted (an
`input_image` part, or a chat `image_url` part; a data URL must be a base64 PNG, JPEG, GIF or
WebP) and stands in the echo as `[image]`; its URLs are recorded (`images`) for assertions.
A completed response's output starts with a `reasoning` item (empty summary), as current
models answer, before the message; it costs no tokens, as at the `minimal` effort it reports,
so the usage stays the echo's word counts.
`POST /v1/audio/transcriptions` (multipart: `file`, `model`, optional `response_format` json or
text) checks the file's extension as OpenAI does and answers a deterministic transcript: the
file's bytes when they are printable UTF-8 text (so a test's "audio" can say what it means),
else `transcript of <n> bytes of <content type>`; the file's name, type and size are recorded.

What matters to the caller is mimicked: Bearer auth, OpenAI's error JSON (`{"error": {...}}`),
the checks OpenAI makes on what our services send (`temperature` 0..2, `max_output_tokens` >= 16,
the chat token caps integers and not both, an image part's `detail`),
404 for an unknown conversation, and `conversation_locked` (400) when a response is requested
while another one on the same conversation is still being produced (`SANDBOX_OPENAI_LATENCY`
makes that window observable). Every request is recorded for inspection; no text is logged.

Faults are injected through a queue, usable from a test and from `make run` alike:

- `POST /_sandbox/openai/faults` with one fault or a list of faults, each
  `{"kind": ..., "endpoint": "model", "count": 1, "retry_after": null, "seconds": 0,
  "probability": 1, "match": null}`.
  Kinds: `rate_limit` (429, `Retry-After` and `retry-after-ms` when `retry_after` is given),
  `insufficient_quota` (429), `server_error` (500), `conversation_locked` (400) and `stall`
  (the answer takes `seconds` longer, on top of `SANDBOX_OPENAI_LATENCY`: the request shows in
  flight and its conversation is busy meanwhile; a client with a shorter timeout times out).
  `endpoint` says which requests a fault hits: `responses`, `chat`, `conversations`,
  `transcriptions`, `model` (responses and chat completions, the default) or `any`.
  `match` limits a fault to requests whose user input contains that text (a test can make one
  message fail for good wherever it lands in a batch), and `probability` hits each matching
  request only with that chance, drawn from a generator seeded by `SANDBOX_FAULT_SEED`: a
  storm of 30 % rate limits is a fault with `probability: 0.3` and a large `count`.
- `GET /_sandbox/openai/faults` lists what is still queued; `DELETE` empties the queue (so does
  `DELETE /_sandbox`).

Each request takes the oldest queued fault that applies to it and whose draw hits (a fault
whose draw misses lets the next one try), after the request is authenticated and validated, so
a fault never hides a malformed request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.store import (
    ConversationState,
    ModelEntry,
    OpenAIFault,
    OpenAIRequestRecord,
    SandboxStore,
)

__all__ = ["INSUFFICIENT_QUOTA_MESSAGE", "LOCKED_MESSAGE", "FaultSpec", "ModelSpec", "router"]

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
INSUFFICIENT_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
_INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_MAX_SAFETY_IDENTIFIER = 64
_MAX_METADATA_KEYS = 16
_RESPONSE_ROLES = ("user", "assistant", "system", "developer")
_CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_AUDIO_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
_IMAGE_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,(.*)$", re.DOTALL)
_TRANSCRIPT_FORMATS = ("json", "text")
_REASONING_TOKENS = 0
"""What each response's reasoning item costs, counted in its output tokens (0, as at `minimal`
effort: the consumers' tests count a turn's tokens as the echo's words)."""
_IMAGE_DETAILS = {
    "input_image": ("low", "high", "auto", "original"),
    "image_url": ("auto", "low", "high"),
}
"""The `detail` values of an image part, by part type (required on an `input_image`)."""


@dataclass(frozen=True, slots=True)
class _Range:
    """The bounds OpenAI puts on a numeric parameter (`null` stands for unset)."""

    integer: bool
    minimum: int | None = None
    maximum: int | None = None


_RESPONSE_RANGES = {"temperature": _Range(False, 0, 2), "max_output_tokens": _Range(True, 16)}
_CHAT_RANGES = {
    "temperature": _Range(False, 0, 2),
    "max_completion_tokens": _Range(True),
    "max_tokens": _Range(True),
}


@dataclass(frozen=True, slots=True)
class _PartKinds:
    """Which content part types carry text, and what stands in for the others."""

    text: tuple[str, ...]
    placeholders: Mapping[str, str]

    def names(self) -> str:
        quoted = [f"'{name}'" for name in (*self.text, *self.placeholders)]
        return ", ".join(quoted[:-1]) + f" and {quoted[-1]}"


_RESPONSE_PARTS = _PartKinds(
    text=("input_text", "output_text"),
    placeholders={"input_image": "[image]", "input_file": "[file]", "input_audio": "[audio]"},
)
_CHAT_PARTS = _PartKinds(
    text=("text",),
    placeholders={"image_url": "[image]", "file": "[file]", "input_audio": "[audio]"},
)

FaultKind = Literal[
    "rate_limit", "insufficient_quota", "server_error", "conversation_locked", "stall"
]
FaultEndpoint = Literal[
    "model", "responses", "chat", "conversations", "transcriptions", "models", "any"
]
_Family = Literal["responses", "chat", "conversations", "transcriptions", "models"]

router = APIRouter(tags=["openai"])


class FaultSpec(BaseModel):
    """One fault to queue, as `POST /_sandbox/openai/faults` takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind = Field(description="What goes wrong.")
    endpoint: FaultEndpoint = Field("model", description="Which requests the fault hits.")
    count: int = Field(1, ge=1, le=100_000, description="How many requests it hits.")
    retry_after: float | None = Field(
        None, ge=0, le=600, description="rate_limit: seconds sent as Retry-After."
    )
    seconds: float = Field(0.0, ge=0, le=600, description="stall: seconds added to the answer.")
    probability: float = Field(
        1.0, gt=0, le=1, description="Chance that a matching request is hit (seeded draws)."
    )
    match: str | None = Field(
        None, min_length=1, description="Only requests whose user input contains this text."
    )

    def queued(self) -> OpenAIFault:
        return OpenAIFault(
            kind=self.kind,
            endpoint=self.endpoint,
            remaining=self.count,
            retry_after=self.retry_after,
            seconds=self.seconds,
            probability=self.probability,
            match=self.match,
        )


class _ApiError(Exception):
    """An error answer in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.error_type, "param": self.param}
        return _answer({"error": {**error, "code": self.code}}, self.status, self.headers)


@dataclass(frozen=True, slots=True)
class _Message:
    """The text view of one input message (non-text parts become placeholders)."""

    role: str
    text: str


def _answer(
    payload: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        payload, status_code=status, headers={"x-request-id": _new_id("req_"), **(headers or {})}
    )


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _words(text: str) -> int:
    return len(text.split())


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string"}
    names |= {list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), "an unknown value")


def _check_auth(request: Request, settings: SandboxSettings) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    expected = settings.openai_api_key.get_secret_value()
    if expected and not hmac.compare_digest(token.encode(), expected.encode()):
        masked = f"{token[:3]}***{token[-4:]}" if len(token) > 8 else "***"
        raise _ApiError(
            401,
            f"Incorrect API key provided: {masked}. This is the chatbot sandbox responder; "
            "use the key in SANDBOX_OPENAI_API_KEY.",
            code="invalid_api_key",
        )


async def _json_object(request: Request, *, allow_empty: bool) -> dict[str, Any]:
    raw = await request.body()
    if allow_empty and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _ApiError(400, _INVALID_JSON_MESSAGE) from error
    if not isinstance(body, dict):
        raise _ApiError(400, _INVALID_JSON_MESSAGE)
    return body


def _invalid_type(param: str, expected: str, value: Any) -> _ApiError:
    return _ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(value: Any, supported: str, param: str) -> _ApiError:
    return _ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {supported}.",
        param=param,
        code="invalid_value",
    )


def _one_of(value: Any, supported: tuple[str, ...], param: str) -> str:
    """``value`` if it is one of ``supported``, else OpenAI's invalid value error."""
    if value in supported:
        return str(value)
    names = [f"'{name}'" for name in supported]
    raise _invalid_value(value, ", ".join(names[:-1]) + f" and {names[-1]}", param)


def _check_ranges(body: dict[str, Any], ranges: Mapping[str, _Range]) -> None:
    """Check the numeric parameters given against their type and bounds, as OpenAI does."""
    for key, bounds in ranges.items():
        value = body.get(key)
        if value is None:
            continue
        kind, number = ("integer", int) if bounds.integer else ("decimal", int | float)
        if isinstance(value, bool) or not isinstance(value, number):
            raise _invalid_type(key, "an integer" if bounds.integer else "a decimal", value)
        low, high = bounds.minimum, bounds.maximum
        if low is not None and value < low:
            raise _out_of_range(key, value, f"{kind} below minimum", f">= {low}")
        if high is not None and value > high:
            raise _out_of_range(key, value, f"{kind} above maximum", f"<= {high}")


def _out_of_range(key: str, value: float, what: str, expected: str) -> _ApiError:
    """OpenAI's error for a number out of bounds (``what``: e.g. `integer below minimum`)."""
    return _ApiError(
        400,
        f"Invalid '{key}': {what} value. Expected a value {expected}, but got {value} instead.",
        param=key,
        code=what.replace(" ", "_").replace("imum", "") + "_value",
    )


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _invalid_type(key, "a string", value)


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    value = body.get("metadata")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid_type("metadata", "an object with string values", value)
    if len(value) > _MAX_METADATA_KEYS:
        raise _ApiError(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{_MAX_METADATA_KEYS} properties, but got an object with {len(value)} instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    return dict(value)


def _image_url(part: dict[str, Any], param: str) -> str | None:
    """The URL of an image part (None for a responses `file_id` image), checked."""
    if part.get("type") == "image_url":  # chat: {"image_url": {"url": ..., "detail": ...}}
        value = part.get("image_url")
        if not isinstance(value, dict):
            raise _invalid_type(f"{param}.image_url", "an object", value)
        if value.get("detail") is not None:
            _one_of(value["detail"], _IMAGE_DETAILS["image_url"], f"{param}.image_url.detail")
        url = value.get("url")
        param = f"{param}.image_url.url"
    else:  # responses: {"image_url": ..., "file_id": ..., "detail": ...}
        _one_of(_required(part, "detail", param), _IMAGE_DETAILS["input_image"], f"{param}.detail")
        url = part.get("image_url")
        if url is None and isinstance(part.get("file_id"), str):
            return None
        param = f"{param}.image_url"
    if url is None:
        raise _missing(param)
    if not isinstance(url, str):
        raise _invalid_type(param, "a string", url)
    if url.startswith("data:"):
        match = _IMAGE_DATA_URL.match(url)
        try:
            valid = match is not None and bool(base64.b64decode(match[2], validate=True))
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise _ApiError(
                400,
                f"Invalid '{param}'. Expected a base64-encoded data URL with an image MIME type "
                "(png, jpeg, gif or webp).",
                param=param,
                code="invalid_image_url",
            )
    return url


def _content_text(content: Any, param: str, kinds: _PartKinds, images: list[str]) -> str:
    """The text of a message's content; image URLs found on the way go to ``images``."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid_type(param, "one of a string or array of content parts", content)
    texts: list[str] = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if not isinstance(part, dict):
            raise _invalid_type(part_param, "an object", part)
        kind = part.get("type")
        if kind in kinds.text:
            text = part.get("text")
            if not isinstance(text, str):
                raise _invalid_type(f"{part_param}.text", "a string", text)
            texts.append(text)
        elif kind in kinds.placeholders:
            if kind in ("input_image", "image_url"):
                url = _image_url(part, part_param)
                if url is not None:
                    images.append(url)
            texts.append(kinds.placeholders[str(kind)])
        else:
            raise _invalid_value(kind, kinds.names(), f"{part_param}.type")
    return "\n".join(texts)


def _role(item: dict[str, Any], roles: tuple[str, ...], param: str) -> str:
    return _one_of(item.get("role"), roles, f"{param}.role")


def _missing(param: str) -> _ApiError:
    return _ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _messages(value: Any, param: str, images: list[str]) -> list[_Message]:
    """The messages of an `input` (string or item list); other item kinds are accepted, unread.

    The URLs of the images they carry are appended to ``images``.
    """
    if isinstance(value, str):
        return [_Message("user", value)]
    if not isinstance(value, list):
        raise _invalid_type(param, "one of a string or array of input items", value)
    messages: list[_Message] = []
    for index, item in enumerate(value):
        item_param = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise _invalid_type(item_param, "an object", item)
        if item.get("type", "message") != "message":
            continue
        role = _role(item, _RESPONSE_ROLES, item_param)
        if "content" not in item:
            raise _missing(f"{item_param}.content")
        text = _content_text(item["content"], f"{item_param}.content", _RESPONSE_PARTS, images)
        messages.append(_Message(role, text))
    return messages


def _chat_messages(value: Any, images: list[str]) -> list[_Message]:
    """The `messages` of a chat completion; an assistant message may have null content.

    The URLs of the images they carry are appended to ``images``.
    """
    if not isinstance(value, list):
        raise _invalid_type("messages", "an array", value)
    if not value:
        raise _ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            param="messages",
            code="empty_array",
        )
    messages: list[_Message] = []
    for index, item in enumerate(value):
        param = f"messages[{index}]"
        if not isinstance(item, dict):
            raise _invalid_type(param, "an object", item)
        role = _role(item, _CHAT_ROLES, param)
        content = item.get("content")
        if content is None and role != "assistant":
            raise _missing(f"{param}.content")
        text = (
            ""
            if content is None
            else _content_text(content, f"{param}.content", _CHAT_PARTS, images)
        )
        messages.append(_Message(role, text))
    return messages


def _conversation_id(body: dict[str, Any]) -> str | None:
    value = body.get("conversation")
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    raise _invalid_type("conversation", "one of a string or an object with an 'id'", value)


def _required(body: dict[str, Any], key: str, parent: str = "") -> Any:
    if body.get(key) is None:
        raise _missing(f"{parent}.{key}" if parent else key)
    return body[key]


def _model(body: dict[str, Any]) -> str:
    model = _required(body, "model")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    return model


def _check_common(body: dict[str, Any], record: OpenAIRequestRecord) -> None:
    """What responses and chat completions validate alike: streaming and the safety id."""
    record.safety_identifier = _optional_str(body, "safety_identifier")
    if body.get("stream"):
        raise _ApiError(
            400,
            "The sandbox responder does not support streaming; omit 'stream'.",
            param="stream",
            code="unsupported_parameter",
        )
    safety_identifier = record.safety_identifier or ""
    if len(safety_identifier) > _MAX_SAFETY_IDENTIFIER:
        raise _ApiError(
            400,
            "Invalid 'safety_identifier': string too long. Expected a string with maximum "
            f"length {_MAX_SAFETY_IDENTIFIER}, but got a string with length "
            f"{len(safety_identifier)} instead.",
            param="safety_identifier",
            code="string_above_max_length",
        )


def _find_conversation(store: SandboxStore, conversation_id: str) -> ConversationState:
    conversation = store.conversations.get(conversation_id)
    if conversation is None:
        raise _ApiError(
            404, f"Conversation with id '{conversation_id}' not found.", param="conversation"
        )
    return conversation


def _hits(fault: OpenAIFault, family: _Family, text: str, store: SandboxStore) -> bool:
    """Whether ``fault`` hits a request of ``family`` whose user input is ``text``."""
    if fault.endpoint == "model":
        applies = family in ("responses", "chat")
    else:
        applies = fault.endpoint in ("any", family)
    if not applies or (fault.match is not None and fault.match not in text):
        return False
    return fault.probability >= 1 or store.fault_rng.random() < fault.probability


def _fault_error(fault: OpenAIFault) -> _ApiError:
    if fault.kind == "rate_limit":
        headers: dict[str, str] = {}
        wait = ""
        if fault.retry_after is not None:
            headers = {
                "retry-after": str(math.ceil(fault.retry_after)),
                "retry-after-ms": str(round(fault.retry_after * 1000)),
            }
            wait = f" Please try again in {fault.retry_after:g}s."
        return _ApiError(
            429,
            "Rate limit reached for requests (sandbox fault)." + wait,
            code="rate_limit_exceeded",
            error_type="requests",
            headers=headers,
        )
    if fault.kind == "insufficient_quota":
        return _ApiError(
            429,
            INSUFFICIENT_QUOTA_MESSAGE,
            code="insufficient_quota",
            error_type="insufficient_quota",
        )
    if fault.kind == "conversation_locked":
        return _ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
    return _ApiError(500, _SERVER_ERROR_MESSAGE, error_type="server_error")


def _take_fault(store: SandboxStore, family: _Family, text: str = "") -> float:
    """Apply the oldest queued fault that hits this request (``text``: its user input).

    Raises its error, or returns the seconds a `stall` adds to the answer (0 without a fault).
    """
    fault = next((f for f in store.openai_faults if _hits(f, family, text, store)), None)
    if fault is None:
        return 0.0
    fault.remaining -= 1
    if fault.remaining <= 0:
        store.openai_faults.remove(fault)
    logger.info("sandbox responder injects a fault", extra={"fault": fault.kind})
    if fault.kind == "stall":
        return fault.seconds
    raise _fault_error(fault)


def _usage_tokens(messages: list[_Message], instructions: Any) -> int:
    tokens = sum(_words(m.text) for m in messages)
    if isinstance(instructions, str):
        tokens += _words(instructions)
    return tokens


def _response_object(
    *,
    response_id: str,
    body: dict[str, Any],
    model: str,
    conversation_id: str | None,
    metadata: dict[str, str],
    reply: str,
    input_tokens: int,
    created_at: int,
) -> dict[str, Any]:
    output_tokens = _words(reply) + _REASONING_TOKENS
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "completed_at": int(time.time()),
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": model,
        "output": [
            {"type": "reasoning", "id": _new_id("rs_"), "summary": []},
            {
                "type": "message",
                "id": _new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": reply, "annotations": [], "logprobs": []}
                ],
            },
        ],
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": "minimal", "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": bool(body.get("store", True)),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": _REASONING_TOKENS},
            "total_tokens": input_tokens + output_tokens,
        },
        "user": body.get("user"),
        "metadata": metadata,
        "conversation": {"id": conversation_id} if conversation_id is not None else None,
    }


def _chat_completion_object(
    *, completion_id: str, model: str, reply: str, prompt_tokens: int, created: int
) -> dict[str, Any]:
    completion_tokens = _words(reply)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply,
                    "refusal": None,
                    "annotations": [],
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }


def _record(request: Request, endpoint: str) -> OpenAIRequestRecord:
    return OpenAIRequestRecord(
        endpoint=endpoint,
        method=request.method,
        path=request.url.path,
        received_at=datetime.now(UTC),
    )


def _refused(store: SandboxStore, record: OpenAIRequestRecord, error: _ApiError) -> JSONResponse:
    """Keep a request that was answered with an error (it was never kept before) and answer."""
    record.status_code = error.status
    record.error_code = error.code
    store.openai_requests.append(record)
    logger.info(
        "sandbox responder refused a request",
        extra={"status_code": error.status, "error_code": error.code},
    )
    return error.response()


def _completed(store: SandboxStore, record: OpenAIRequestRecord, output_text: str) -> None:
    """Note the answer on a record kept when it was admitted, and wake the waiters."""
    record.output_text = output_text
    record.status_code = 200
    store.openai_requests.notify()


@router.post("/v1/conversations")
async def create_conversation(request: Request, settings: Settings, store: Store) -> JSONResponse:
    """Create an empty (or pre-filled) conversation."""
    record = _record(request, "conversations.create")
    try:
        _check_auth(request, settings)
        body = await _json_object(request, allow_empty=True)
        record.body = body
        record.metadata = body.get("metadata")
        metadata = _metadata(body)
        items = body.get("items") or []
        _messages(items, "items", [])
        stall = _take_fault(store, "conversations")
    except _ApiError as error:
        return _refused(store, record, error)
    if stall > 0:
        await asyncio.sleep(stall)
    conversation = ConversationState(
        id=_new_id("conv_"), created_at=int(time.time()), metadata=metadata, items=list(items)
    )
    store.conversations[conversation.id] = conversation
    record.conversation = conversation.id
    record.status_code = 200
    store.openai_requests.append(record)
    logger.info("sandbox responder created a conversation", extra={"conversation": conversation.id})
    return _answer(conversation.to_json())


@router.get("/v1/conversations/{conversation_id}")
async def retrieve_conversation(
    conversation_id: str, request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """Fetch a conversation (404 when unknown)."""
    record = _record(request, "conversations.retrieve")
    record.conversation = conversation_id
    try:
        _check_auth(request, settings)
        stall = _take_fault(store, "conversations")
        conversation = _find_conversation(store, conversation_id)
    except _ApiError as error:
        return _refused(store, record, error)
    if stall > 0:
        await asyncio.sleep(stall)
    record.status_code = 200
    store.openai_requests.append(record)
    return _answer(conversation.to_json())


@router.post("/v1/responses")
async def create_response(request: Request, settings: Settings, store: Store) -> JSONResponse:
    """Produce one deterministic echo response, honouring the conversation lock."""
    record = _record(request, "responses.create")
    created_at = int(time.time())
    try:
        _check_auth(request, settings)
        body = await _json_object(request, allow_empty=False)
        record.body = body
        record.input = body.get("input")
        record.instructions = body.get("instructions")
        record.metadata = body.get("metadata")
        model = record.model = _model(body)
        conversation_id = record.conversation = _conversation_id(body)
        messages = _messages(_required(body, "input"), "input", record.images)
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str | list):
            raise _invalid_type("instructions", "a string", instructions)
        metadata = _metadata(body)
        _optional_str(body, "previous_response_id")
        _check_ranges(body, _RESPONSE_RANGES)
        _check_common(body, record)
        if conversation_id is not None and body.get("previous_response_id") is not None:
            raise _ApiError(
                400,
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                param="conversation",
                code="mutually_exclusive_parameters",
            )
        record.input_text = "\n".join(m.text for m in messages if m.role == "user")
        stall = _take_fault(store, "responses", record.input_text)
        conversation = (
            _find_conversation(store, conversation_id) if conversation_id is not None else None
        )
        if conversation is not None and conversation.active_response_id is not None:
            raise _ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
    except _ApiError as error:
        return _refused(store, record, error)

    response_id = _new_id("resp_")
    record.response_id = response_id
    # Lock and publish the record in one synchronous step: a test that sees the record knows
    # the conversation is busy.
    if conversation is not None:
        conversation.active_response_id = response_id
    store.openai_requests.append(record)
    try:
        if settings.openai_latency + stall > 0:
            await asyncio.sleep(settings.openai_latency + stall)
        number = conversation.completed_responses + 1 if conversation is not None else 1
        reply = f"Echo #{number}: {record.input_text}"
        payload = _response_object(
            response_id=response_id,
            body=body,
            model=model,
            conversation_id=conversation_id,
            metadata=metadata,
            reply=reply,
            input_tokens=_usage_tokens(messages, instructions),
            created_at=created_at,
        )
        if conversation is not None:
            conversation.completed_responses = number
            given = body["input"]
            conversation.items.extend(
                given if isinstance(given, list) else [{"role": "user", "content": given}]
            )
            conversation.items.extend(payload["output"])
    finally:
        if conversation is not None and conversation.active_response_id == response_id:
            conversation.active_response_id = None
    _completed(store, record, reply)
    logger.info(
        "sandbox responder completed a response",
        extra={"response_id": response_id, "conversation": conversation_id, "turn": number},
    )
    return _answer(payload)


@router.post("/v1/chat/completions")
async def create_chat_completion(
    request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """Answer the user messages after the last assistant message with a numbered echo."""
    record = _record(request, "chat.completions.create")
    created = int(time.time())
    try:
        _check_auth(request, settings)
        body = await _json_object(request, allow_empty=False)
        record.body = body
        record.metadata = body.get("metadata")
        model = record.model = _model(body)
        record.input = body.get("messages")
        messages = _chat_messages(_required(body, "messages"), record.images)
        _metadata(body)
        _check_ranges(body, _CHAT_RANGES)
        if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
            raise _ApiError(
                400,
                "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not "
                "supported.",
                param="max_tokens",
                code="invalid_parameter_combination",
            )
        _check_common(body, record)
        answered = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        record.input_text = "\n".join(m.text for m in messages[answered + 1 :] if m.role == "user")
        stall = _take_fault(store, "chat", record.input_text)
    except _ApiError as error:
        return _refused(store, record, error)

    record.instructions = [m.text for m in messages if m.role in ("system", "developer")]
    completion_id = _new_id("chatcmpl-")
    record.response_id = completion_id
    store.openai_requests.append(record)
    if settings.openai_latency + stall > 0:
        await asyncio.sleep(settings.openai_latency + stall)
    number = sum(1 for m in messages if m.role == "assistant") + 1
    reply = f"Echo #{number}: {record.input_text}"
    payload = _chat_completion_object(
        completion_id=completion_id,
        model=model,
        reply=reply,
        prompt_tokens=_usage_tokens(messages, None),
        created=created,
    )
    _completed(store, record, reply)
    logger.info(
        "sandbox responder completed a chat completion",
        extra={"response_id": completion_id, "turn": number},
    )
    return _answer(payload)


def _transcript(data: bytes, content_type: str) -> str:
    """What the file "says": its own text when it is printable UTF-8, else a description."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if text and all(char.isprintable() or char.isspace() for char in text):
        return text
    return f"transcript of {len(data)} bytes of {content_type}"


def _transcription_usage(model: str, size: int, transcript: str) -> dict[str, Any]:
    """Usage as OpenAI reports it: seconds for whisper models, tokens for the others."""
    if model.startswith("whisper"):
        return {"type": "duration", "seconds": max(1, size // 16_000)}
    audio_tokens = max(1, math.ceil(size / 1024))
    output_tokens = _words(transcript)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        "output_tokens": output_tokens,
        "total_tokens": audio_tokens + output_tokens,
    }


def _form_text(value: Any, param: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, str):
        raise _invalid_type(param, "a string", "a file")
    return value


@router.post("/v1/audio/transcriptions")
async def create_transcription(request: Request, settings: Settings, store: Store) -> Response:
    """Transcribe an uploaded audio file (multipart) into a deterministic transcript."""
    record = _record(request, "audio.transcriptions.create")
    try:
        _check_auth(request, settings)
        async with request.form() as form:
            upload = form.get("file")
            model = record.model = _form_text(form.get("model"), "model", required=True)
            response_format = _form_text(
                form.get("response_format"), "response_format", required=False
            )
            if not isinstance(upload, UploadFile):
                raise _missing("file")
            data = await upload.read()
        filename = upload.filename or ""
        content_type = upload.content_type or "application/octet-stream"
        record.file = {"filename": filename, "content_type": content_type, "size": len(data)}
        record.body = {"model": model, "response_format": response_format}
        if response_format is not None and response_format not in _TRANSCRIPT_FORMATS:
            raise _invalid_value(response_format, "'json' and 'text'", "response_format")
        if filename.rpartition(".")[2].lower() not in _AUDIO_FORMATS or "." not in filename:
            raise _ApiError(400, f"Invalid file format. Supported formats: {list(_AUDIO_FORMATS)}")
        stall = _take_fault(store, "transcriptions")
    except _ApiError as error:
        return _refused(store, record, error)
    assert model is not None
    store.openai_requests.append(record)
    if settings.openai_latency + stall > 0:
        await asyncio.sleep(settings.openai_latency + stall)
    transcript = _transcript(data, content_type)
    _completed(store, record, transcript)
    logger.info("sandbox responder transcribed a file", extra={"size": len(data)})
    if response_format == "text":
        return PlainTextResponse(transcript, headers={"x-request-id": _new_id("req_")})
    usage = _transcription_usage(model, len(data), transcript)
    return _answer({"text": transcript, "usage": usage})


_NO_ROUTE = JSONResponse({"detail": "Not Found"}, status_code=404)
"""What a compatible server without a models endpoint answers (FastAPI's, as vLLM's)."""


class ModelSpec(BaseModel):
    """A model for the models API to know, as `PUT /_sandbox/openai/models/{id}` takes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shutdown_date: date | None = Field(None, description="When the model shuts down, if ever.")


@router.get("/v1/models")
async def list_models(request: Request, settings: Settings, store: Store) -> JSONResponse:
    """The models the responder knows, as OpenAI's list object."""
    if not settings.openai_models_endpoint:
        return _NO_ROUTE
    try:
        _check_auth(request, settings)
        stall = _take_fault(store, "models")
    except _ApiError as error:
        return error.response()
    await asyncio.sleep(stall)
    return _answer({"object": "list", "data": [m.to_json() for m in store.models.values()]})


@router.get("/v1/models/{model:path}")
async def retrieve_model(
    model: str, request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """One model, with its shutdown date (404 ``model_not_found`` when unknown)."""
    if not settings.openai_models_endpoint:
        return _NO_ROUTE
    try:
        _check_auth(request, settings)
        stall = _take_fault(store, "models")
        entry = store.models.get(model)
        if entry is None:
            raise _ApiError(
                404,
                f"The model '{model}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
    except _ApiError as error:
        return error.response()
    await asyncio.sleep(stall)
    return _answer(entry.to_json())


@router.put("/_sandbox/openai/models/{model:path}")
async def put_model(model: str, spec: ModelSpec, store: Store) -> dict[str, Any]:
    """Make the models API know ``model``, with the shutdown date given (or none)."""
    shutdown = spec.shutdown_date.isoformat() if spec.shutdown_date else None
    store.models[model] = entry = ModelEntry(model, shutdown_date=shutdown)
    return entry.to_json()


@router.delete("/_sandbox/openai/models/{model:path}")
async def delete_model(model: str, store: Store) -> dict[str, bool]:
    """Make the models API forget ``model`` (then it answers 404 ``model_not_found``)."""
    return {"deleted": store.models.pop(model, None) is not None}


@router.post("/_sandbox/openai/faults")
async def queue_faults(faults: FaultSpec | list[FaultSpec], store: Store) -> list[dict[str, Any]]:
    """Queue one fault or several, in order; answer the whole queue."""
    for fault in faults if isinstance(faults, list) else [faults]:
        store.openai_faults.append(fault.queued())
    return [fault.to_json() for fault in store.openai_faults]


@router.get("/_sandbox/openai/faults")
async def list_faults(store: Store) -> list[dict[str, Any]]:
    """The faults still queued, oldest first, with how many requests each will still hit."""
    return [fault.to_json() for fault in store.openai_faults]


@router.delete("/_sandbox/openai/faults")
async def clear_faults(store: Store) -> dict[str, bool]:
    """Drop every queued fault."""
    store.openai_faults.clear()
    return {"cleared": True}
