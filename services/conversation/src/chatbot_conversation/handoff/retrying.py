"""A desk request's answer read the same way for every desk: retried while it may get better."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from ..retry import Failure, ModelCallError, RetryPolicy, retry_after, with_retries
from .desk import DeskError

__all__ = ["checked", "retried"]

_RETRIED = frozenset({408, 429})


class _Transient(Exception):
    def __init__(self, status: int, headers: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.wait = status, retry_after(headers)


def checked(answer: aiohttp.ClientResponse, what: str) -> None:
    """Raise for an answer that is not a success: one to retry (408, 429, 5xx), or a refusal."""
    if answer.status in _RETRIED or answer.status >= 500:
        raise _Transient(answer.status, answer.headers)
    if answer.status >= 400:  # its body may name the user: not kept
        raise DeskError(f"{what}: HTTP {answer.status}")


async def retried[T](
    attempt: Callable[[], Awaitable[T]], what: str, *, policy: RetryPolicy, rng: random.Random
) -> T:
    """``attempt()``, retried with backoff on timeouts, connection errors and the answers
    :func:`checked` calls transient; :class:`DeskError` once it fails for good."""
    try:
        return await with_retries(attempt, policy, rng=rng, classify_error=_classify)
    except ModelCallError as error:
        raise DeskError(f"{what}: {error}") from error


def _classify(error: Exception) -> Failure | None:
    if isinstance(error, _Transient):
        return Failure(f"http_{error.status}", retryable=True, retry_after=error.wait)
    if isinstance(error, TimeoutError):
        return Failure("timeout", retryable=True)
    if isinstance(error, aiohttp.ClientError):
        return Failure("connection", retryable=True)
    return None
