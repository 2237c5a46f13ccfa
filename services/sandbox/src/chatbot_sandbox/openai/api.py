"""The fake OpenAI's routes, with OpenAI's shapes and errors; :mod:`.responder` is what answers.

Every request is recorded, no text logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.openai import responder
from chatbot_sandbox.openai.records import (
    ConversationState,
    Family,
    FaultSpec,
    OpenAIRequestRecord,
    open_calls,
)
from chatbot_sandbox.openai.responder import new_id
from chatbot_sandbox.process import SandboxStore

__all__ = ["LOCKED_MESSAGE", "QUOTA_MESSAGE", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["openai"])

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
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
        return JSONResponse({"error": error | {"code": self.code}}, self.status, self.headers)


def _check_auth(request: Request) -> None:
    """Bearer auth with any token (the fake never sees a real key)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )


async def _json(request: Request, *required: str) -> dict[str, Any]:
    """The request's JSON object; refused, as the API refuses it, without a required parameter."""
    body: dict[str, Any] = await request.json()
    if missing := [name for name in required if name not in body]:
        message = f"Missing required parameter: '{missing[0]}'."
        raise ApiError(400, message, missing[0], "missing_required_parameter")
    return body


def _stall(store: SandboxStore, family: Family, text: str = "") -> float:
    """Take the fault that hits this request: raise its error, or give the seconds it stalls."""
    fault = store.take_openai_fault(family, text)
    if fault is None:
        return 0.0
    logger.info("sandbox responder injects a fault", extra={"fault": fault.kind})
    if fault.kind == "stall":
        return fault.seconds
    raise _fault_error(fault)


def _fault_error(fault: FaultSpec) -> ApiError:
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


def _refused(store: SandboxStore, record: OpenAIRequestRecord, error: ApiError) -> Response:
    """Record the request as answered with ``error``, and answer it."""
    record.status_code, record.error_code = error.status, error.code
    store.openai_requests.append(record)
    extra = {"status_code": error.status, "error_code": error.code}
    logger.info("sandbox responder refused a request", extra=extra)
    return error.response()


async def _in_flight(
    store: SandboxStore,
    record: OpenAIRequestRecord,
    seconds: float,
    conversation: ConversationState | None = None,
) -> None:
    """Record the request in flight (no status yet) for ``seconds``, its ``conversation`` busy
    meanwhile (set in the same step as the record: who sees one in flight sees the other), then
    mark it answered."""
    store.openai_requests.append(record)
    conversation = conversation or ConversationState()
    conversation.busy = True
    try:
        if seconds > 0:
            await asyncio.sleep(seconds)
    finally:
        conversation.busy = False
    record.status_code = 200
    store.openai_requests.notify()


def _conversation(
    store: SandboxStore, conversation_id: str | None, *, locked_ok: bool = False
) -> ConversationState:
    """A request's conversation (404 if unknown, locked while busy); none is a fresh one."""
    if conversation_id is None:
        return ConversationState()
    conversation = store.conversations.get(conversation_id)
    if conversation is None:
        message = f"Conversation with id '{conversation_id}' not found."
        raise ApiError(404, message, "conversation")
    if conversation.busy and not locked_ok:
        raise ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
    return conversation


def _usage(given: int, made: int, *, chat: bool = False, **details: Any) -> dict[str, Any]:
    """Token usage in OpenAI's shape (Chat Completions' names with ``chat``), then ``details``."""
    names = ("prompt_tokens", "completion_tokens") if chat else ("input_tokens", "output_tokens")
    return {names[0]: given, names[1]: made, "total_tokens": given + made, **details}


@router.post("/v1/conversations")
async def create_conversation(request: Request, store: Store) -> Response:
    """Create an empty conversation."""
    record = OpenAIRequestRecord("conversations.create")
    try:
        _check_auth(request)
        body = await _json(request)
        stall = _stall(store, "conversations")
    except ApiError as error:
        return _refused(store, record, error)
    record.conversation = conversation_id = new_id("conv_")
    store.conversations[conversation_id] = ConversationState()
    await _in_flight(store, record, stall)
    created = {"id": conversation_id, "object": "conversation", "created_at": int(time.time())}
    return JSONResponse(created | {"metadata": body.get("metadata") or {}})


@router.post("/v1/responses")
async def create_response(request: Request, settings: Settings, store: Store) -> Response:
    """One response in a conversation (or none), honouring the conversation's lock: an echo,
    or the function calls the user's words ask for."""
    record, created_at = OpenAIRequestRecord("responses.create"), int(time.time())
    try:
        _check_auth(request)
        given = responder.read_response(await _json(request, "model"), record)
        stall = _stall(store, "responses", record.input_text or "")
        conversation = _conversation(store, record.conversation)
        if unanswered := open_calls(conversation.items + given):
            # As the API does (the conversation service reads the message).
            message = f"No tool output found for function call {unanswered[0]}."
            raise ApiError(400, message, "input")
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, settings.openai_latency + stall, conversation)
    output, read, wrote = responder.respond(conversation, given, record)
    cached, reasoning = {"cached_tokens": 0}, {"reasoning_tokens": 0}
    usage = _usage(read, wrote, input_tokens_details=cached, output_tokens_details=reasoning)
    return JSONResponse(
        {
            "id": new_id("resp_"),
            "object": "response",
            "created_at": created_at,
            "status": "completed",
            "model": record.model,
            "instructions": record.instructions,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": record.tool_choice or "auto",
            "tools": record.tools or [],
            "usage": usage,
            "conversation": {"id": record.conversation} if record.conversation else None,
        }
    )


@router.get("/v1/conversations/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    request: Request,
    store: Store,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """A page of a conversation's items (newest first by default)."""
    try:
        _check_auth(request)
        conversation = _conversation(store, conversation_id, locked_ok=True)
    except ApiError as error:
        return error.response()
    items = conversation.items if order == "asc" else conversation.items[::-1]
    return _page(items[:limit], has_more=len(items) > limit)


def _page(items: list[dict[str, Any]], *, has_more: bool = False) -> Response:
    """OpenAI's list of items."""
    first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
    page = {"object": "list", "data": items, "first_id": first, "last_id": last}
    return JSONResponse(page | {"has_more": has_more})


@router.post("/v1/conversations/{conversation_id}/items")
async def create_items(conversation_id: str, request: Request, store: Store) -> Response:
    """Add up to 20 items (messages, function call outputs) to a conversation: the next
    response reads them, and an output answers its call."""
    record = OpenAIRequestRecord("conversations.items.create", conversation=conversation_id)
    try:
        _check_auth(request)
        record.input = given = (await _json(request, "items"))["items"]
        if len(given) > 20:  # what the API takes (the conversation service batches by 20)
            message = (
                "Invalid 'items': array too long. Expected an array with maximum length 20, but "
                f"got an array with length {len(given)} instead."
            )
            raise ApiError(400, message, "items", "array_above_max_length")
        items = responder.input_items(given, record)
        stall = _stall(store, "conversations")
        conversation = _conversation(store, conversation_id)
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, stall, conversation)
    conversation.items += items
    return _page(items)


@router.delete("/v1/conversations/{conversation_id}")
async def delete_conversation(conversation_id: str, request: Request, store: Store) -> Response:
    """Delete a conversation, and with it (here) its items: it is not found afterwards."""
    record = OpenAIRequestRecord("conversations.delete", conversation=conversation_id)
    try:
        _check_auth(request)
        stall = _stall(store, "conversations")
        _conversation(store, conversation_id, locked_ok=True)
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, stall)
    store.conversations.pop(conversation_id, None)
    return JSONResponse({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


@router.post("/v1/chat/completions")
async def create_chat_completion(request: Request, settings: Settings, store: Store) -> Response:
    """Answer the user messages after the last answer with a numbered echo, or with the
    function calls they ask for."""
    record, created = OpenAIRequestRecord("chat.completions.create"), int(time.time())
    try:
        _check_auth(request)
        body = await _json(request, "model", "messages")
        number, outputs, sent = responder.read_chat(body, record)
        stall = _stall(store, "chat", record.input_text or "")
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, settings.openai_latency + stall)
    message, wrote = responder.complete_chat(record, number, outputs)
    finish = "tool_calls" if "tool_calls" in message else "stop"
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return JSONResponse(
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": created,
            "model": record.model,
            "choices": [choice],
            "usage": _usage(sent, wrote, chat=True),
        }
    )


@router.post("/v1/audio/transcriptions")
async def create_transcription(
    request: Request,
    settings: Settings,
    store: Store,
    file: UploadFile,
    model: Annotated[str, Form()],
) -> Response:
    """A deterministic transcript: the file's own text when it is printable UTF-8."""
    data, content_type = await file.read(), file.content_type or "application/octet-stream"
    record = OpenAIRequestRecord("audio.transcriptions.create", model=model)
    record.file = {"filename": file.filename or "", "content_type": content_type, "size": len(data)}
    try:
        _check_auth(request)
        stall = _stall(store, "transcriptions")
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, settings.openai_latency + stall)
    text = data.decode("utf-8", "replace").strip()  # a bad byte is U+FFFD, printable: look for it
    if not text or "\ufffd" in text or not all(c.isprintable() or c.isspace() for c in text):
        text = f"transcript of {len(data)} bytes of {content_type}"
    audio = max(1, math.ceil(len(data) / 1024))
    details = {"text_tokens": 0, "audio_tokens": audio}
    usage = _usage(audio, responder.words(text), type="tokens", input_token_details=details)
    return JSONResponse({"text": text, "usage": usage})


@router.get("/v1/models")
@router.get("/v1/models/{model:path}")
async def models(
    request: Request, settings: Settings, store: Store, model: str | None = None
) -> Response:
    """The models the fake knows, or one with its shutdown date (404 ``model_not_found``)."""
    if not settings.openai_models_endpoint:  # a compatible server without one: FastAPI's 404
        return JSONResponse({"detail": "Not Found"}, 404)
    try:
        _check_auth(request)
        stall = _stall(store, "models")
        if model is not None and model not in store.models:
            message = f"The model '{model}' does not exist or you do not have access to it."
            raise ApiError(404, message, "model", "model_not_found")
    except ApiError as error:
        return error.response()
    await asyncio.sleep(stall)
    if model is not None:
        return JSONResponse(store.models[model].to_json())
    return JSONResponse({"object": "list", "data": [m.to_json() for m in store.models.values()]})


@router.post("/_sandbox/openai/faults", tags=["sandbox"])
async def queue_faults(faults: FaultSpec | list[FaultSpec], store: Store) -> list[dict[str, Any]]:
    """Queue one fault or several, in order; answer the whole queue."""
    store.openai_faults.extend(faults if isinstance(faults, list) else [faults])
    return [fault.model_dump() for fault in store.openai_faults]
