"""Our own retries of OpenAI requests: which errors are worth another try, and when.

The SDK's retries are off so every attempt is ours to count, time and trace, with Retry-After
and the per-turn budget honoured here. Media downloads reuse the loop with their own classifier.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import openai

__all__ = [
    "Classifier",
    "Failure",
    "ModelCallError",
    "RetryPolicy",
    "classify",
    "classify_openai",
    "retry_after",
    "with_retries",
]


_TRANSIENT_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request, as a fixed word (a metric label) and whether to retry."""

    kind: str
    retryable: bool
    retry_after: float | None = None


class ModelCallError(Exception):
    """A request that failed for good: permanent, or transient with the retries spent.

    Raised by :func:`with_retries` for any request it retries, model or not.
    """

    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(f"{failure.kind} after {attempts} attempt(s)")
        self.failure = failure
        self.attempts = attempts


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, else ``retry-after``)."""
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify(error: openai.OpenAIError) -> Failure:
    """Sort an SDK error into a retryable or permanent failure kind."""
    if isinstance(error, openai.APITimeoutError):
        return Failure("timeout", retryable=True)
    if isinstance(error, openai.APIConnectionError):
        return Failure("connection", retryable=True)
    if not isinstance(error, openai.APIStatusError):
        return Failure("rejected", retryable=False)
    if error.code == "insufficient_quota" or error.type == "insufficient_quota":
        return Failure("insufficient_quota", retryable=False)
    wait = retry_after(error.response.headers)
    if error.code == "conversation_locked":
        return Failure("conversation_locked", retryable=True, retry_after=wait)
    if error.status_code == 429:
        return Failure("rate_limited", retryable=True, retry_after=wait)
    if error.status_code >= 500 or error.status_code in _TRANSIENT_STATUSES:
        return Failure("server_error", retryable=True, retry_after=wait)
    return Failure("rejected", retryable=False)


Classifier = Callable[[Exception], Failure | None]
"""Sorts an error into a :class:`Failure`; None for an error that is not a failed request."""


def classify_openai(error: Exception) -> Failure | None:
    """:func:`classify` for the SDK's errors; None for anything else."""
    return classify(error) if isinstance(error, openai.OpenAIError) else None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time."""

    max_attempts: int
    initial: float
    maximum: float
    budget: float

    def delay(self, attempt: int, failure: Failure, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Half to all of ``initial * 2**(attempt-1)`` (capped at ``maximum``), and never less
        than what the server asked for in Retry-After.
        """
        ceiling = min(self.maximum, self.initial * 2 ** (attempt - 1))
        wait = rng.uniform(ceiling / 2, ceiling)
        if failure.retry_after is not None:
            wait = max(wait, failure.retry_after)
        return wait


Observer = Callable[[str, float], None]
"""Told the outcome (``ok`` or a failure kind) and the duration of every attempt."""


async def with_retries[T](
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    rng: random.Random,
    classify_error: Classifier = classify_openai,
    observe: Observer | None = None,
    on_retry: Callable[[Failure, int, float], None] | None = None,
) -> T:
    """Await ``call()`` until it succeeds, retrying transient failures within the policy.

    Raises :class:`ModelCallError` for a permanent failure, or when the next wait would exceed
    the attempts or the time budget. An error ``classify_error`` does not sort (None)
    propagates as it is, unretried.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        began = time.monotonic()
        try:
            result = await call()
        except Exception as error:
            failure = classify_error(error)
            if failure is None:
                raise
            if observe is not None:
                observe(failure.kind, time.monotonic() - began)
            if not failure.retryable or attempt >= policy.max_attempts:
                raise ModelCallError(failure, attempt) from error
            wait = policy.delay(attempt, failure, rng)
            if time.monotonic() - started + wait > policy.budget:
                raise ModelCallError(failure, attempt) from error
            if on_retry is not None:
                on_retry(failure, attempt, wait)
            await asyncio.sleep(wait)
        else:
            if observe is not None:
                observe("ok", time.monotonic() - began)
            return result
