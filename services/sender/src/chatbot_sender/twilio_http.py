"""The twilio SDK's HTTP client, made to show each answer's status and Retry-After.

An aiohttp TraceConfig writes each response's status and Retry-After into the :class:`Answer`
of the call in progress, found through a context variable (the SDK's exceptions drop headers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient

__all__ = ["Answer", "answer_of_call", "instrumented_http_client"]


@dataclass
class Answer:
    """What Twilio answered to one call (nothing yet, if no answer came)."""

    status: int | None = None
    retry_after: str | None = None


_CURRENT: ContextVar[Answer | None] = ContextVar("twilio_answer", default=None)


@contextmanager
def answer_of_call() -> Iterator[Answer]:
    """An :class:`Answer` that the SDK call made inside the block fills in."""
    answer = Answer()
    token = _CURRENT.set(answer)
    try:
        yield answer
    finally:
        _CURRENT.reset(token)


async def _on_request_end(
    _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    answer = _CURRENT.get()
    if answer is not None:
        answer.status = params.response.status
        answer.retry_after = params.response.headers.get("Retry-After")


def instrumented_http_client() -> AsyncTwilioHttpClient:
    """The SDK's async HTTP client with the answer hook (create it inside the running loop)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_on_request_end)
    return AsyncTwilioHttpClient(trace_configs=[trace])
