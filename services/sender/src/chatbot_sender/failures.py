"""What a failed Twilio call means for the message: try again later, or give up.

Rate limits, 5xx, timeouts and network errors are retried; every other 4xx is given up
(docs/sender.md, *Retry or give up*). A :class:`TwilioFailure` never keeps the SDK's text,
which can quote a phone number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_CODES", "TwilioFailure", "is_retryable", "parse_retry_after"]

RETRYABLE_CODES = frozenset({20429, 63017, 63018})
"""Twilio codes that say "too fast" or "try later" whatever the HTTP status."""

_MAX_RETRY_AFTER = 900.0


def is_retryable(status: int | None, code: int | None) -> bool:
    """Whether a call that failed with this HTTP status and Twilio code may succeed later.

    ``status`` is ``None`` when no answer came (timeout, connection lost).
    """
    if status is None or status == 429 or status >= 500:
        return True
    return code in RETRYABLE_CODES


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), at most 15 min."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else None
        if seconds is None:
            seconds = (parsedate_to_datetime(text) - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError):
        return None
    return min(_MAX_RETRY_AFTER, max(0.0, seconds))


class TwilioFailure(Exception):
    """A Twilio call that did not succeed: its HTTP status, Twilio code and Retry-After."""

    def __init__(
        self, *, status: int | None, code: int | None, kind: str, retry_after: float | None
    ) -> None:
        self.status = status
        self.code = code
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(f"twilio call failed: {self.label}")

    @property
    def label(self) -> str:
        """A short, low-cardinality name of the failure: the Twilio code, else status or kind."""
        if self.code is not None:
            return str(self.code)
        return str(self.status) if self.status is not None else self.kind

    @property
    def retryable(self) -> bool:
        return is_retryable(self.status, self.code)
