"""What the fakes were asked to do, for tests in other processes and the dev tools.

The list endpoints long-poll: ``?min_count=N&timeout=S`` answers once N records exist.
"""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from chatbot_sandbox.chat.settings import ChatSettings
from chatbot_sandbox.deps import app_state
from chatbot_sandbox.openai.records import OpenAIStore
from chatbot_sandbox.process import SandboxStore
from chatbot_sandbox.records import RecordLog, record_json
from chatbot_sandbox.twilio.records import TwilioStore

__all__ = ["router"]

router = APIRouter(tags=["sandbox"])

MinCount = Annotated[int, Query(ge=0, description="Wait until at least this many records exist.")]
Timeout = Annotated[float, Query(ge=0, le=60, description="Seconds to wait for `min_count`.")]
After = Annotated[int, Query(ge=0, description="Leave out the first records.")]

_LOGS = {
    "/_sandbox/twilio/messages": (TwilioStore, "twilio_messages", "Accepted creates."),
    "/_sandbox/twilio/rejected": (TwilioStore, "twilio_rejected", "Refused creates, with codes."),
    "/_sandbox/twilio/typing": (TwilioStore, "twilio_typing", "Typing indicator requests."),
    "/_sandbox/twilio/status-callbacks": (
        TwilioStore,
        "twilio_status_callbacks",
        "Status callbacks posted, with the answer each got.",
    ),
    "/_sandbox/twilio/media/fetches": (TwilioStore, "twilio_media_fetches", "Media downloads."),
    "/_sandbox/openai/requests": (OpenAIStore, "openai_requests", "Requests (null status: busy)."),
}
"""Each list endpoint: its path, the fake's store and log it serves, and what that log holds."""


def _list_endpoint(
    kind: type[Any], attribute: str, what: str
) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    async def endpoint(
        store: Annotated[Any, Depends(app_state("store", kind))],
        min_count: MinCount = 0,
        timeout: Timeout = 0.0,
        after: After = 0,
    ) -> list[dict[str, Any]]:
        log: RecordLog[Any] = getattr(store, attribute)
        if min_count > len(log) and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await log.wait_for(min_count, timeout)
        return [record_json(record) for record in log.snapshot()[after:]]

    endpoint.__name__ = attribute
    endpoint.__doc__ = f"{what} Oldest first."
    return endpoint


for _path, _source in _LOGS.items():
    router.add_api_route(_path, _list_endpoint(*_source), methods=["GET"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok"}


@router.get("/_sandbox/info")
async def info(
    settings: Annotated[ChatSettings, Depends(app_state("settings", ChatSettings))],
) -> dict[str, str | bool]:
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


@router.delete("/_sandbox")
async def clear(
    store: Annotated[SandboxStore, Depends(app_state("store", SandboxStore))],
) -> dict[str, bool]:
    """Forget every record, conversation, file and fault."""
    store.clear()
    return {"cleared": True}
