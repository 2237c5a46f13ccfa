"""The fake OpenAI's routes: a deterministic echo, not a model.

A reply is ``Echo #N: <user text>``: N counts the answers before it (in the conversation, or the
assistant messages sent) plus one. Usage counts words. Every request is recorded, no text logged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.openai import inputs, tools
from chatbot_sandbox.openai.inputs import ApiError, answer, new_id
from chatbot_sandbox.openai.records import ConversationState, Family, FaultSpec, OpenAIRequestRecord
from chatbot_sandbox.process import SandboxStore

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["openai"])

_NO_ROUTE = JSONResponse({"detail": "Not Found"}, status_code=404)
"""What a compatible server without a models API answers (FastAPI's 404, as vLLM's)."""


def _words(text: str) -> int:
    return len(text.split())


def _stall(store: SandboxStore, family: Family, text: str = "") -> float:
    """Take the fault that hits this request: raise its error, or give the seconds it stalls."""
    fault = store.take_openai_fault(family, text)
    if fault is None:
        return 0.0
    logger.info("sandbox responder injects a fault", extra={"fault": fault.kind})
    if fault.kind == "stall":
        return fault.seconds
    raise inputs.fault_error(fault)


def _refused(store: SandboxStore, record: OpenAIRequestRecord, error: ApiError) -> Response:
    """Record the request as answered with ``error``, and answer it."""
    record.status_code, record.error_code = error.status, error.code
    store.openai_requests.append(record)
    logger.info(
        "sandbox responder refused a request",
        extra={"status_code": error.status, "error_code": error.code},
    )
    return error.response()


async def _in_flight(store: SandboxStore, record: OpenAIRequestRecord, seconds: float) -> None:
    """Record the request in flight (no status yet), wait ``seconds``, then mark it answered."""
    store.openai_requests.append(record)
    if seconds > 0:
        await asyncio.sleep(seconds)
    record.status_code = 200
    store.openai_requests.notify()


@router.post("/v1/conversations")
async def create_conversation(request: Request, store: Store) -> Response:
    """Create an empty conversation."""
    record = OpenAIRequestRecord("conversations.create")
    try:
        inputs.check_auth(request)
        body = await request.json()
        stall = _stall(store, "conversations")
    except ApiError as error:
        return _refused(store, record, error)
    record.conversation = conversation_id = new_id("conv_")
    store.conversations[conversation_id] = ConversationState()
    await _in_flight(store, record, stall)
    return answer(
        {
            "id": conversation_id,
            "object": "conversation",
            "created_at": int(time.time()),
            "metadata": body.get("metadata") or {},
        }
    )


@router.post("/v1/responses")
async def create_response(request: Request, settings: Settings, store: Store) -> Response:
    """One response in a conversation (or none), honouring the conversation's lock: an echo,
    or the function calls the user's words ask for (see :mod:`.tools`)."""
    record, created_at = OpenAIRequestRecord("responses.create"), int(time.time())
    try:
        inputs.check_auth(request)
        body = await request.json()
        messages, outputs = inputs.read_response(body, record)
        functions = tools.offered(record.tools, chat=False)
        stall = _stall(store, "responses", record.input_text or "")
        conversation = _conversation(store, record.conversation)
        _check_outputs(conversation, outputs)
    except ApiError as error:
        return _refused(store, record, error)
    conversation.busy = True  # in the same step as the record: who sees it in flight sees this
    try:
        await _in_flight(store, record, settings.openai_latency + stall)
    finally:
        conversation.busy = False
    # The model reads the items added since the last answer, then the input.
    added, conversation.unread = conversation.unread, []
    read = [m for m in added if isinstance(m, inputs.Message)] + messages
    read_outputs = [o for o in added if isinstance(o, inputs.Output)] + outputs
    # A user message is a new ask (outputs with it only close calls left open); outputs alone
    # continue the last one.
    fresh = any(m.role == "user" for m in read)
    if fresh:
        conversation.asked = "\n".join(m.text for m in read if m.role == "user")
    wanted = tools.calls_for(
        conversation.asked, functions, tool_choice=record.tool_choice, again=not fresh
    )
    calls = tools.function_call_items(wanted)
    output: list[dict[str, Any]] = [
        # Current models reason first; at `minimal` effort it costs no tokens.
        {"type": "reasoning", "id": new_id("rs_"), "summary": []},
        *({"type": "function_call", "id": new_id("fc_"), "status": "completed"}
          | {"call_id": call.call_id, "name": call.name, "arguments": call.arguments}
          for call in calls),
    ]  # fmt: skip
    reply = ""
    if not calls:
        conversation.answered += 1
        named = [(conversation.calls.get(o.call_id, ""), o.output) for o in read_outputs]
        named = [] if fresh else named
        reply = tools.answer_with(conversation.answered, conversation.asked, named)
        output.append(
            {
                "type": "message",
                "id": new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply, "annotations": []}],
            }
        )
    _keep(conversation, messages, outputs, output)
    input_tokens = sum(_words(m.text) for m in read) + _words(record.instructions or "")
    input_tokens += sum(_words(o.output) for o in read_outputs)
    output_tokens = _words(reply) + sum(_words(call.arguments) for call in calls)
    return answer(
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
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
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
        inputs.check_auth(request)
        conversation = _conversation(store, conversation_id, locked_ok=True)
    except ApiError as error:
        return error.response()
    items = conversation.items if order == "asc" else conversation.items[::-1]
    return _page(items[:limit], has_more=len(items) > limit)


def _page(items: list[dict[str, Any]], *, has_more: bool = False) -> Response:
    """OpenAI's list of items."""
    first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
    page = {"object": "list", "data": items, "first_id": first, "last_id": last}
    return answer(page | {"has_more": has_more})


@router.delete("/v1/conversations/{conversation_id}")
async def delete_conversation(conversation_id: str, request: Request, store: Store) -> Response:
    """Delete a conversation, and with it (here) its items: it is not found afterwards."""
    record = OpenAIRequestRecord("conversations.delete", conversation=conversation_id)
    try:
        inputs.check_auth(request)
        stall = _stall(store, "conversations")
        _conversation(store, conversation_id, locked_ok=True)
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, stall)
    store.conversations.pop(conversation_id, None)
    return answer({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


@router.post("/v1/conversations/{conversation_id}/items")
async def create_items(conversation_id: str, request: Request, store: Store) -> Response:
    """Add up to 20 items (messages, function call outputs) to a conversation: the next
    response reads them, and an output answers its call."""
    record = OpenAIRequestRecord("conversations.items.create", conversation=conversation_id)
    try:
        inputs.check_auth(request)
        body = await request.json()
        given = inputs.read_items(body, record)
        stall = _stall(store, "conversations")
        conversation = _conversation(store, conversation_id)
    except ApiError as error:
        return _refused(store, record, error)
    conversation.busy = True
    try:
        await _in_flight(store, record, stall)
    finally:
        conversation.busy = False
    items = [_item(one) for one in given]
    conversation.items += items
    for one in given:
        if isinstance(one, inputs.Message) and one.role == "assistant":
            conversation.answered += 1  # an answer: what was asked before it is answered
            conversation.unread = []
        else:
            conversation.unread.append(one)
    answered = {one.call_id for one in given if isinstance(one, inputs.Output)}
    conversation.open_calls = [call for call in conversation.open_calls if call not in answered]
    return _page(items)


def _check_outputs(conversation: ConversationState, outputs: list[inputs.Output]) -> None:
    """Refuse a turn that leaves one of the conversation's calls without an output, as the API
    does (the conversation service reads the message)."""
    answered = {given.call_id for given in outputs}
    if unanswered := [call for call in conversation.open_calls if call not in answered]:
        raise ApiError(
            400, f"No tool output found for function call {unanswered[0]}.", param="input"
        )


def _keep(
    conversation: ConversationState,
    messages: list[inputs.Message],
    outputs: list[inputs.Output],
    output: list[dict[str, Any]],
) -> None:
    """Add a response's input and output items to its conversation."""
    conversation.open_calls = [
        item["call_id"] for item in output if item["type"] == "function_call"
    ]
    conversation.calls |= {item["call_id"]: item["name"] for item in output if "name" in item}
    conversation.items += [*map(_item, messages), *map(_item, outputs), *output]


def _item(given: inputs.Message | inputs.Output) -> dict[str, Any]:
    """An input item as its conversation keeps it, with its id."""
    if isinstance(given, inputs.Output):
        item = {"type": "function_call_output", "id": new_id("fco_"), "call_id": given.call_id}
        return item | {"output": given.output, "status": "completed"}
    item = {"type": "message", "id": new_id("msg_"), "role": given.role}
    return item | {"content": [{"type": "input_text", "text": given.text}], "status": "completed"}


@router.post("/v1/chat/completions")
async def create_chat_completion(request: Request, settings: Settings, store: Store) -> Response:
    """Answer the user messages after the last answer with a numbered echo, or with the
    function calls they ask for (see :mod:`.tools`)."""
    record, created = OpenAIRequestRecord("chat.completions.create"), int(time.time())
    try:
        inputs.check_auth(request)
        body = await request.json()
        messages = inputs.read_chat(body, record)
        functions = tools.offered(record.tools, chat=True)
        stall = _stall(store, "chat", record.input_text or "")
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, settings.openai_latency + stall)
    last_user = max(i for i, m in enumerate(messages) if m.role in ("user", "system", "developer"))
    names = tools.call_names(body["messages"])
    outputs = [
        (names[raw["tool_call_id"]], raw["content"])
        for raw in body["messages"][last_user + 1 :]
        if raw.get("role") == "tool"
    ]
    asked = record.input_text or ""
    wanted = tools.calls_for(asked, functions, tool_choice=record.tool_choice, again=bool(outputs))
    calls = tools.function_call_items(wanted)
    answers = sum(
        raw.get("role") == "assistant" and not raw.get("tool_calls") for raw in body["messages"]
    )
    reply = None if calls else tools.answer_with(answers + 1, asked, outputs)
    message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": call.call_id, "type": "function"}
            | {"function": {"name": call.name, "arguments": call.arguments}}
            for call in calls
        ]
    prompt_tokens = sum(_words(m.text) for m in messages)
    completion_tokens = _words(reply or "") + sum(_words(call.arguments) for call in calls)
    return answer(
        {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": created,
            "model": record.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
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
    record = OpenAIRequestRecord("audio.transcriptions.create")
    try:
        inputs.check_auth(request)
        async with request.form() as form:
            upload, model = form.get("file"), form.get("model")
            if not isinstance(model, str):
                raise inputs.missing("model")
            if not isinstance(upload, UploadFile):
                raise inputs.missing("file")
            data, filename = await upload.read(), upload.filename or ""
        content_type = upload.content_type or "application/octet-stream"
        record.model = model
        record.file = {"filename": filename, "content_type": content_type, "size": len(data)}
        stall = _stall(store, "transcriptions")
    except ApiError as error:
        return _refused(store, record, error)
    await _in_flight(store, record, settings.openai_latency + stall)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if not text or not all(char.isprintable() or char.isspace() for char in text):
        text = f"transcript of {len(data)} bytes of {content_type}"
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
@router.get("/v1/models/{model:path}")
async def models(
    request: Request, settings: Settings, store: Store, model: str | None = None
) -> Response:
    """The models the fake knows, or one with its shutdown date (404 ``model_not_found``)."""
    if not settings.openai_models_endpoint:
        return _NO_ROUTE
    try:
        inputs.check_auth(request)
        stall = _stall(store, "models")
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
    if stall > 0:
        await asyncio.sleep(stall)
    if entry is not None:
        return answer(entry.to_json())
    return answer({"object": "list", "data": [m.to_json() for m in store.models.values()]})


@router.post("/_sandbox/openai/faults", tags=["sandbox"])
async def queue_faults(faults: FaultSpec | list[FaultSpec], store: Store) -> list[dict[str, Any]]:
    """Queue one fault or several, in order; answer the whole queue."""
    store.openai_faults.extend(faults if isinstance(faults, list) else [faults])
    return [fault.model_dump() for fault in store.openai_faults]


def _conversation(
    store: SandboxStore, conversation_id: str | None, *, locked_ok: bool = False
) -> ConversationState:
    """A response's conversation (404 if unknown, locked while busy); none is a fresh one."""
    if conversation_id is None:
        return ConversationState()
    conversation = store.conversations.get(conversation_id)
    if conversation is None:
        message = f"Conversation with id '{conversation_id}' not found."
        raise ApiError(404, message, param="conversation")
    if conversation.busy and not locked_ok:
        raise ApiError(400, inputs.LOCKED_MESSAGE, code="conversation_locked")
    return conversation
