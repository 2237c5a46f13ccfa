"""The fake OpenAI's routes: a deterministic echo, not a model.

A reply is ``Echo #N: <user text>``: N counts the responses completed in the conversation, or
in a chat completion the assistant messages sent plus one. Usage counts words. A response
holds its conversation's lock while it is produced (``conversation_locked`` meanwhile). Every
request is recorded; no text is logged. A fault is taken after auth and validation.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from chatbot_sandbox.deps import app_state
from chatbot_sandbox.openai import inputs
from chatbot_sandbox.openai.errors import (
    LOCKED_MESSAGE,
    ApiError,
    answer,
    fault_error,
    invalid_type,
    missing,
    new_id,
)
from chatbot_sandbox.openai.records import (
    ConversationState,
    Family,
    FaultSpec,
    OpenAIRequestRecord,
    OpenAIStore,
)
from chatbot_sandbox.openai.settings import OpenAISettings

__all__ = ["router"]

logger = logging.getLogger(__name__)

Settings = Annotated[OpenAISettings, Depends(app_state("settings", OpenAISettings))]
Store = Annotated[OpenAIStore, Depends(app_state("store", OpenAIStore))]

_AUDIO_FORMATS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
_NO_ROUTE = JSONResponse({"detail": "Not Found"}, status_code=404)
"""What a compatible server without a models API answers (FastAPI's 404, as vLLM's)."""

router = APIRouter(tags=["openai"])


def _words(text: str) -> int:
    return len(text.split())


class _Call:
    """One request's record, and the fault (a stall's seconds) it takes once admitted."""

    def __init__(self, store: OpenAIStore, endpoint: str) -> None:
        self.store = store
        self.record = OpenAIRequestRecord(endpoint=endpoint, received_at=datetime.now(UTC))

    def admit(self, family: Family, text: str = "") -> float:
        """Take the fault that hits this request: raise its error, or the seconds it stalls."""
        fault = self.store.take_openai_fault(family, text)
        if fault is None:
            return 0.0
        logger.info("sandbox responder injects a fault", extra={"fault": fault.kind})
        if fault.kind == "stall":
            return fault.seconds
        raise fault_error(fault)

    def refused(self, error: ApiError) -> JSONResponse:
        """Record the request as answered with ``error``, and answer it."""
        self.record.status_code, self.record.error_code = error.status, error.code
        self.store.openai_requests.append(self.record)
        logger.info(
            "sandbox responder refused a request",
            extra={"status_code": error.status, "error_code": error.code},
        )
        return error.response()

    async def answered(self, seconds: float, output_text: str | None = None) -> None:
        """Wait ``seconds`` (latency and stall) in flight, then note the answer."""
        await _pause(seconds)
        self.completed(output_text)

    def completed(self, output_text: str | None) -> None:
        """Note the answer on the record, kept since it was admitted, and wake its waiters."""
        self.record.output_text, self.record.status_code = output_text, 200
        self.store.openai_requests.notify()


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


@router.post("/v1/conversations")
async def create_conversation(request: Request, settings: Settings, store: Store) -> Response:
    """Create an empty conversation."""
    call = _Call(store, "conversations.create")
    try:
        inputs.check_auth(request, settings)
        body = call.record.body = await inputs.json_object(request, allow_empty=True)
        metadata = call.record.metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise invalid_type("metadata", "an object with string values", metadata)
        stall = call.admit("conversations")
    except ApiError as error:
        return call.refused(error)
    conversation = ConversationState(new_id("conv_"), int(time.time()), metadata)
    store.conversations[conversation.id] = conversation
    call.record.conversation = conversation.id
    store.openai_requests.append(call.record)
    await call.answered(stall)
    return answer(
        {
            "id": conversation.id,
            "object": "conversation",
            "created_at": conversation.created_at,
            "metadata": metadata,
        }
    )


@router.post("/v1/responses")
async def create_response(request: Request, settings: Settings, store: Store) -> Response:
    """One echo response in a conversation (or none), honouring the conversation's lock."""
    call, created_at = _Call(store, "responses.create"), int(time.time())
    record = call.record
    try:
        inputs.check_auth(request, settings)
        body = record.body = await inputs.json_object(request)
        record.input, record.metadata = body.get("input"), body.get("metadata")
        instructions = record.instructions = inputs.string(body, "instructions")
        model = record.model = _model(body)
        conversation_id = record.conversation = _conversation_id(body)
        messages = inputs.response_messages(inputs.required(body, "input"), record.images)
        inputs.check_ranges(body, inputs.RESPONSE_RANGES)
        record.safety_identifier = inputs.safety_identifier(body)
        record.input_text = "\n".join(m.text for m in messages if m.role == "user")
        stall = call.admit("responses", record.input_text)
        conversation = None
        if conversation_id is not None:
            conversation = store.conversations.get(conversation_id)
            if conversation is None:
                raise ApiError(
                    404,
                    f"Conversation with id '{conversation_id}' not found.",
                    param="conversation",
                )
            if conversation.active_response_id is not None:
                raise ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
    except ApiError as error:
        return call.refused(error)
    record.response_id = response_id = new_id("resp_")
    # Lock and publish in one step: a test that sees the record knows the conversation is busy.
    if conversation is not None:
        conversation.active_response_id = response_id
    store.openai_requests.append(record)
    number = conversation.completed_responses + 1 if conversation is not None else 1
    reply = f"Echo #{number}: {record.input_text}"
    try:
        await _pause(settings.openai_latency + stall)
        if conversation is not None:
            conversation.completed_responses = number
    finally:
        if conversation is not None:
            conversation.active_response_id = None
    call.completed(reply)
    input_tokens = sum(_words(m.text) for m in messages) + _words(instructions or "")
    output_tokens = _words(reply)
    logger.info("sandbox responder completed a response", extra={"response_id": response_id})
    return answer(
        {
            "id": response_id,
            "object": "response",
            "created_at": created_at,
            "completed_at": int(time.time()),
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": instructions,
            "max_output_tokens": body.get("max_output_tokens"),
            "model": model,
            "output": [
                # Current models reason first; at `minimal` effort it costs no tokens.
                {"type": "reasoning", "id": new_id("rs_"), "summary": []},
                {
                    "type": "message",
                    "id": new_id("msg_"),
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": reply, "annotations": []}],
                },
            ],
            "parallel_tool_calls": True,
            "reasoning": {"effort": "minimal", "summary": None},
            "safety_identifier": record.safety_identifier,
            "temperature": body.get("temperature", 1.0),
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
            "metadata": body.get("metadata") or {},
            "conversation": {"id": conversation_id} if conversation_id else None,
        }
    )


@router.post("/v1/chat/completions")
async def create_chat_completion(request: Request, settings: Settings, store: Store) -> Response:
    """Answer the user messages after the last assistant message with a numbered echo."""
    call, created = _Call(store, "chat.completions.create"), int(time.time())
    record = call.record
    try:
        inputs.check_auth(request, settings)
        body = record.body = await inputs.json_object(request)
        record.metadata = body.get("metadata")
        model = record.model = _model(body)
        record.input = body.get("messages")
        messages = inputs.chat_messages(inputs.required(body, "messages"), record.images)
        inputs.check_ranges(body, inputs.CHAT_RANGES)
        if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
            raise ApiError(
                400,
                "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not "
                "supported.",
                param="max_tokens",
                code="invalid_parameter_combination",
            )
        record.safety_identifier = inputs.safety_identifier(body)
        answered = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        record.input_text = "\n".join(m.text for m in messages[answered + 1 :] if m.role == "user")
        stall = call.admit("chat", record.input_text)
    except ApiError as error:
        return call.refused(error)
    record.instructions = [m.text for m in messages if m.role in ("system", "developer")]
    record.response_id = completion_id = new_id("chatcmpl-")
    store.openai_requests.append(record)
    reply = f"Echo #{sum(m.role == 'assistant' for m in messages) + 1}: {record.input_text}"
    await call.answered(settings.openai_latency + stall, reply)
    prompt_tokens, completion_tokens = sum(_words(m.text) for m in messages), _words(reply)
    return answer(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


@router.post("/v1/audio/transcriptions")
async def create_transcription(request: Request, settings: Settings, store: Store) -> Response:
    """A deterministic transcript: the file's own text when it is printable UTF-8."""
    call = _Call(store, "audio.transcriptions.create")
    try:
        inputs.check_auth(request, settings)
        async with request.form() as form:
            upload, model = form.get("file"), form.get("model")
            if not isinstance(model, str):
                raise missing("model")
            if not isinstance(upload, UploadFile):
                raise missing("file")
            data, filename = await upload.read(), upload.filename or ""
        content_type = upload.content_type or "application/octet-stream"
        call.record.model = model
        call.record.file = {"filename": filename, "content_type": content_type, "size": len(data)}
        if "." not in filename or filename.rpartition(".")[2].lower() not in _AUDIO_FORMATS:
            raise ApiError(400, f"Invalid file format. Supported formats: {list(_AUDIO_FORMATS)}")
        stall = call.admit("transcriptions")
    except ApiError as error:
        return call.refused(error)
    store.openai_requests.append(call.record)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if not text or not all(char.isprintable() or char.isspace() for char in text):
        text = f"transcript of {len(data)} bytes of {content_type}"
    await call.answered(settings.openai_latency + stall, text)
    audio_tokens = max(1, math.ceil(len(data) / 1024))
    usage = {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        "output_tokens": _words(text),
        "total_tokens": audio_tokens + _words(text),
    }
    return answer({"text": text, "usage": usage})


@router.get("/v1/models")
async def list_models(request: Request, settings: Settings, store: Store) -> Response:
    """The models the fake knows, as OpenAI's list object."""
    if not settings.openai_models_endpoint:
        return _NO_ROUTE
    return await _models(request, settings, store, None)


@router.get("/v1/models/{model:path}")
async def retrieve_model(
    model: str, request: Request, settings: Settings, store: Store
) -> Response:
    """One model, with its shutdown date (404 ``model_not_found`` when unknown)."""
    if not settings.openai_models_endpoint:
        return _NO_ROUTE
    return await _models(request, settings, store, model)


async def _models(
    request: Request, settings: OpenAISettings, store: OpenAIStore, model: str | None
) -> Response:
    try:
        inputs.check_auth(request, settings)
        stall = _Call(store, "models").admit("models")
        entry = store.models.get(model) if model is not None else None
        if model is not None and entry is None:
            raise ApiError(
                404,
                f"The model '{model}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
    except ApiError as error:
        return error.response()
    await _pause(stall)
    if entry is not None:
        return answer(entry.to_json())
    return answer({"object": "list", "data": [m.to_json() for m in store.models.values()]})


@router.post("/_sandbox/openai/faults", tags=["sandbox"])
async def queue_faults(faults: FaultSpec | list[FaultSpec], store: Store) -> list[dict[str, Any]]:
    """Queue one fault or several, in order; answer the whole queue."""
    store.openai_faults.extend(faults if isinstance(faults, list) else [faults])
    return [fault.model_dump() for fault in store.openai_faults]


def _model(body: dict[str, Any]) -> str:
    model = inputs.required(body, "model")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    return model


def _conversation_id(body: dict[str, Any]) -> str | None:
    value = body.get("conversation")
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    if value is not None and not isinstance(value, str):
        raise invalid_type("conversation", "one of a string or an object with an 'id'", value)
    return value
