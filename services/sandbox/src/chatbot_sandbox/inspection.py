"""What the fakes were asked to do, for tests in other processes and the dev tools; the lists
long-poll: ``?min_count=N&timeout=S`` answers once N records exist."""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.records import RecordLog, record_json

__all__ = ["router"]

router = APIRouter(tags=["sandbox"])

MinCount = Annotated[int, Query(ge=0, description="Wait until at least this many records exist.")]
Timeout = Annotated[float, Query(ge=0, le=60, description="Seconds to wait for `min_count`.")]
After = Annotated[int, Query(ge=0, description="Leave out the first records.")]

_LOGS = {
    "/_sandbox/twilio/messages": "twilio_messages",  # accepted creates
    "/_sandbox/twilio/rejected": "twilio_rejected",  # refused creates, with codes
    "/_sandbox/twilio/typing": "twilio_typing",
    "/_sandbox/twilio/status-callbacks": "twilio_status_callbacks",
    "/_sandbox/twilio/media/fetches": "twilio_media_fetches",
    "/_sandbox/openai/requests": "openai_requests",  # a null status_code: in flight
    "/_sandbox/tools/calls": "tool_calls",  # calls of the example tool endpoints
    "/_sandbox/chatwoot/requests": "chatwoot_requests",  # a null status_code: in flight
    "/_sandbox/chatwoot/webhooks": "chatwoot_webhooks",
}


def _list_endpoint(attribute: str) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    async def endpoint(
        store: Store, min_count: MinCount = 0, timeout: Timeout = 0.0, after: After = 0
    ) -> list[dict[str, Any]]:
        """The records, oldest first."""
        log: RecordLog[Any] = getattr(store, attribute)
        if min_count > len(log) and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await log.wait_for(min_count, timeout)
        return [record_json(record) for record in log.snapshot()[after:]]

    endpoint.__name__ = attribute
    return endpoint


for _path, _attribute in _LOGS.items():
    router.add_api_route(_path, _list_endpoint(_attribute), methods=["GET"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@router.get("/_sandbox/info")
async def info(settings: Settings) -> dict[str, str | bool]:
    """What this process is (a sandbox, not Twilio or OpenAI) and which model answers."""
    return {
        "sandbox": "local stand-ins for OpenAI and Twilio; the chat page is at /",
        "model_label": settings.model_label,
        "model_provider": settings.model_provider,
        "twilio_real": settings.twilio_real,
    }
