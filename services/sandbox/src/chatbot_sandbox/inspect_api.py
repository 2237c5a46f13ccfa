"""JSON endpoints to look inside the sandbox: what "Twilio" and "OpenAI" were asked to do.

Tests in other processes (end-to-end, faults) and the dev tools cannot reach the in-memory
store directly, so it is served here. The list endpoints can long-poll: `min_count` and
`timeout` make the call return as soon as that many records exist (or when the timeout ends,
with whatever there is), so callers wait on events instead of sleeping in loops.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query

from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.store import RecordLog

__all__ = ["router"]

T = TypeVar("T")

router = APIRouter(tags=["sandbox"])

MinCount = Annotated[int, Query(ge=0, description="Wait until at least this many records exist.")]
Timeout = Annotated[float, Query(ge=0, le=60, description="Seconds to wait for `min_count`.")]


async def _records(log: RecordLog[T], min_count: int, timeout: float) -> list[T]:
    if min_count > len(log) and timeout > 0:
        try:
            return await log.wait_for(min_count, timeout)
        except TimeoutError:
            pass
    return log.snapshot()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@router.get("/_sandbox/info")
async def info(settings: Settings) -> dict[str, str | bool]:
    """What this process is: a sandbox, not Twilio or OpenAI (and what `make run` uses)."""
    return {
        "model_label": settings.model_label,
        "model_provider": settings.model_provider,
        "twilio_real": settings.twilio_real,
        "chat_page": "/",
        "openai": "sandbox responder",
        "twilio": "sandbox fake",
        "twilio_account_sid": settings.twilio_account_sid,
    }


@router.get("/_sandbox/twilio/messages")
async def twilio_messages(
    store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0
) -> list[dict[str, Any]]:
    """Accepted `Messages.json` creates, oldest first."""
    records = await _records(store.twilio_messages, min_count, timeout)
    return [record.to_json() for record in records]


@router.get("/_sandbox/twilio/rejected")
async def twilio_rejected(
    store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0
) -> list[dict[str, Any]]:
    """Refused `Messages.json` creates (401/400), oldest first, with their Twilio error code."""
    records = await _records(store.twilio_rejected, min_count, timeout)
    return [record.to_json() for record in records]


@router.get("/_sandbox/twilio/typing")
async def twilio_typing(
    store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0
) -> list[dict[str, Any]]:
    """Typing indicator requests, oldest first (`status_code` 200, or the refusal's)."""
    records = await _records(store.twilio_typing, min_count, timeout)
    return [record.to_json() for record in records]


@router.get("/_sandbox/twilio/status-callbacks")
async def twilio_status_callbacks(
    store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0
) -> list[dict[str, Any]]:
    """Status callbacks the fake Twilio posted, oldest first, with the answer each got."""
    records = await _records(store.twilio_status_callbacks, min_count, timeout)
    return [record.to_json() for record in records]


@router.get("/_sandbox/openai/requests")
async def openai_requests(
    store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0
) -> list[dict[str, Any]]:
    """Every request the responder received, oldest first (`status_code` null while in flight)."""
    records = await _records(store.openai_requests, min_count, timeout)
    return [record.to_json() for record in records]


@router.get("/_sandbox/openai/conversations")
async def openai_conversations(store: Store) -> list[dict[str, Any]]:
    """The responder's conversations with their completed-response counts."""
    return [
        {
            **conversation.to_json(),
            "completed_responses": conversation.completed_responses,
            "busy": conversation.active_response_id is not None,
        }
        for conversation in store.conversations.values()
    ]


@router.delete("/_sandbox")
async def clear(store: Store) -> dict[str, bool]:
    """Forget every record and conversation."""
    store.clear()
    return {"cleared": True}
