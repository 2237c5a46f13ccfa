"""A local, deterministic OpenAI-compatible responder (Conversations + Responses API subset).

The conversation service uses the official `openai` SDK; with `OPENAI_BASE_URL` pointing here
it runs offline, in dev and in tests, through the same code path as in production. Replies are
not model output: each is `Echo #N: <user text>`, N counting the responses completed in that
conversation, so tests can tell turns apart and check that a user keeps one conversation.

What matters to the caller is mimicked: Bearer auth, OpenAI's error JSON (`{"error": {...}}`),
404 for an unknown conversation, and `conversation_locked` (400) when a response is requested
while another one on the same conversation is still being produced (the configured latency
makes that window observable). Every request is recorded for inspection; no text is logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.store import ConversationState, OpenAIRequestRecord

__all__ = ["LOCKED_MESSAGE", "router"]

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
_INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_MAX_SAFETY_IDENTIFIER = 64
_MAX_METADATA_KEYS = 16
_ROLES = frozenset({"user", "assistant", "system", "developer"})
_PLACEHOLDERS = {"input_image": "[image]", "input_file": "[file]", "input_audio": "[audio]"}

router = APIRouter(prefix="/v1", tags=["openai"])


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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.error_type, "param": self.param}
        return _answer({"error": {**error, "code": self.code}}, self.status)


@dataclass(frozen=True, slots=True)
class _Message:
    """The text view of one input message (non-text parts become placeholders)."""

    role: str
    text: str


def _answer(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers={"x-request-id": _new_id("req_")})


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _words(text: str) -> int:
    return len(text.split())


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
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


def _content_text(content: Any, param: str) -> str:
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
        if kind in ("input_text", "output_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise _invalid_type(f"{part_param}.text", "a string", text)
            texts.append(text)
        elif kind in _PLACEHOLDERS:
            texts.append(_PLACEHOLDERS[str(kind)])
        else:
            raise _ApiError(
                400,
                f"Invalid value: '{kind}'. Supported values are: 'input_text', 'input_image', "
                "'input_file', 'input_audio' and 'output_text'.",
                param=f"{part_param}.type",
                code="invalid_value",
            )
    return "\n".join(texts)


def _messages(value: Any, param: str) -> list[_Message]:
    """The messages of an `input` (string or item list); other item kinds are accepted, unread."""
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
        role = item.get("role")
        if role not in _ROLES:
            raise _ApiError(
                400,
                f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', "
                "'system' and 'developer'.",
                param=f"{item_param}.role",
                code="invalid_value",
            )
        if "content" not in item:
            raise _ApiError(
                400,
                f"Missing required parameter: '{item_param}.content'.",
                param=f"{item_param}.content",
                code="missing_required_parameter",
            )
        messages.append(
            _Message(str(role), _content_text(item["content"], f"{item_param}.content"))
        )
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


def _required(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise _ApiError(
            400,
            f"Missing required parameter: '{key}'.",
            param=key,
            code="missing_required_parameter",
        )
    return body[key]


def _find_conversation(store: Store, conversation_id: str) -> ConversationState:
    conversation = store.conversations.get(conversation_id)
    if conversation is None:
        raise _ApiError(
            404, f"Conversation with id '{conversation_id}' not found.", param="conversation"
        )
    return conversation


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
    output_tokens = _words(reply)
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
            {
                "type": "message",
                "id": _new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": reply, "annotations": [], "logprobs": []}
                ],
            }
        ],
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None},
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
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
        "user": body.get("user"),
        "metadata": metadata,
        "conversation": {"id": conversation_id} if conversation_id is not None else None,
    }


def _record(request: Request, endpoint: str) -> OpenAIRequestRecord:
    return OpenAIRequestRecord(
        endpoint=endpoint,
        method=request.method,
        path=request.url.path,
        received_at=datetime.now(UTC),
    )


def _finish(store: Store, record: OpenAIRequestRecord, status: int, code: str | None) -> None:
    """Note the outcome on the record (kept once, even if this is an early error)."""
    record.status_code = status
    record.error_code = code
    if not any(kept is record for kept in store.openai_requests.snapshot()):
        store.openai_requests.append(record)
    else:
        store.openai_requests.notify()


@router.post("/conversations")
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
        _messages(items, "items")
    except _ApiError as error:
        _finish(store, record, error.status, error.code)
        return error.response()
    conversation = ConversationState(
        id=_new_id("conv_"), created_at=int(time.time()), metadata=metadata, items=list(items)
    )
    store.conversations[conversation.id] = conversation
    record.conversation = conversation.id
    _finish(store, record, 200, None)
    logger.info("sandbox responder created a conversation", extra={"conversation": conversation.id})
    return _answer(conversation.to_json())


@router.get("/conversations/{conversation_id}")
async def retrieve_conversation(
    conversation_id: str, request: Request, settings: Settings, store: Store
) -> JSONResponse:
    """Fetch a conversation (404 when unknown)."""
    record = _record(request, "conversations.retrieve")
    record.conversation = conversation_id
    try:
        _check_auth(request, settings)
        conversation = _find_conversation(store, conversation_id)
    except _ApiError as error:
        _finish(store, record, error.status, error.code)
        return error.response()
    _finish(store, record, 200, None)
    return _answer(conversation.to_json())


@router.post("/responses")
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
        model = _required(body, "model")
        if not isinstance(model, str):
            raise _invalid_type("model", "a string", model)
        record.model = model
        record.safety_identifier = _optional_str(body, "safety_identifier")
        conversation_id = _conversation_id(body)
        record.conversation = conversation_id
        messages = _messages(_required(body, "input"), "input")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str | list):
            raise _invalid_type("instructions", "a string", instructions)
        metadata = _metadata(body)
        _optional_str(body, "previous_response_id")
        if body.get("stream"):
            raise _ApiError(
                400,
                "The sandbox responder does not support streaming; omit 'stream'.",
                param="stream",
                code="unsupported_parameter",
            )
        if conversation_id is not None and body.get("previous_response_id") is not None:
            raise _ApiError(
                400,
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                param="conversation",
                code="mutually_exclusive_parameters",
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
        conversation = (
            _find_conversation(store, conversation_id) if conversation_id is not None else None
        )
        if conversation is not None and conversation.active_response_id is not None:
            raise _ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
    except _ApiError as error:
        _finish(store, record, error.status, error.code)
        logger.info(
            "sandbox responder refused a request",
            extra={"status_code": error.status, "error_code": error.code},
        )
        return error.response()

    response_id = _new_id("resp_")
    record.response_id = response_id
    record.input_text = "\n".join(m.text for m in messages if m.role == "user")
    # Lock and publish the record in one synchronous step: a test that sees the record knows
    # the conversation is busy.
    if conversation is not None:
        conversation.active_response_id = response_id
    store.openai_requests.append(record)
    try:
        if settings.openai_latency > 0:
            await asyncio.sleep(settings.openai_latency)
        number = conversation.completed_responses + 1 if conversation is not None else 1
        reply = f"Echo #{number}: {record.input_text}"
        input_tokens = sum(_words(m.text) for m in messages)
        if isinstance(instructions, str):
            input_tokens += _words(instructions)
        payload = _response_object(
            response_id=response_id,
            body=body,
            model=model,
            conversation_id=conversation_id,
            metadata=metadata,
            reply=reply,
            input_tokens=input_tokens,
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
    record.output_text = reply
    _finish(store, record, 200, None)
    logger.info(
        "sandbox responder completed a response",
        extra={"response_id": response_id, "conversation": conversation_id, "turn": number},
    )
    return _answer(payload)
