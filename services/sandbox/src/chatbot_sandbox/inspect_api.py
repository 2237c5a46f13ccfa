"""JSON endpoints to look inside the sandbox: what "Twilio" and "OpenAI" were asked to do.

Tests in other processes (end-to-end, faults) and the dev tools cannot reach the in-memory
store directly, so it is served here. The list endpoints can long-poll: `min_count` and
`timeout` make the call return as soon as that many records exist (or when the timeout ends,
with whatever there is), so callers wait on events instead of sleeping in loops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.store import RecordLog

__all__ = ["router"]


router = APIRouter(tags=["sandbox"])

MinCount = Annotated[int, Query(ge=0, description="Wait until at least this many records exist.")]
Timeout = Annotated[float, Query(ge=0, le=60, description="Seconds to wait for `min_count`.")]
After = Annotated[
    int, Query(ge=0, description="Leave out the first records (read a growing log in pieces).")
]


async def _records[T](log: RecordLog[T], min_count: int, timeout: float) -> list[T]:
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


_RECORD_LOGS = {
    "/_sandbox/twilio/messages": ("twilio_messages", "Accepted `Messages.json` creates."),
    "/_sandbox/twilio/rejected": (
        "twilio_rejected",
        "Refused `Messages.json` creates (401/400), with their Twilio error code.",
    ),
    "/_sandbox/twilio/typing": (
        "twilio_typing",
        "Typing indicator requests (`status_code` 200, or the refusal's).",
    ),
    "/_sandbox/twilio/status-callbacks": (
        "twilio_status_callbacks",
        "Status callbacks the fake Twilio posted, with the answer each got.",
    ),
    "/_sandbox/openai/requests": (
        "openai_requests",
        "Every request the responder received (`status_code` null while in flight).",
    ),
}
"""Each list endpoint: its path, the store's log it serves, and what that log holds."""


def _list_endpoint(attribute: str, what: str) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    async def endpoint(
        store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0, after: After = 0
    ) -> list[dict[str, Any]]:
        log: RecordLog[Any] = getattr(store, attribute)
        return [record.to_json() for record in (await _records(log, min_count, timeout))[after:]]

    endpoint.__name__ = attribute
    endpoint.__doc__ = f"{what} Oldest first."
    return endpoint


for _path, (_attribute, _what) in _RECORD_LOGS.items():
    router.add_api_route(_path, _list_endpoint(_attribute, _what), methods=["GET"])


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
