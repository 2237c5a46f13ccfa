"""Per-user protection: a rate limit in messages per minute and a daily token budget.

Both live in the user's state and are decided when a turn starts, so every replica applies the
same numbers; a user over a limit is told once per window, then answered with silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .state import DailyTokens, RateWindow

__all__ = [
    "RATE_WINDOW",
    "RateVerdict",
    "Verdict",
    "check_budget",
    "check_rate",
    "spend_tokens",
]

RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Verdict:
    """Whether a turn may go ahead, and whether to tell the user it may not."""

    allowed: bool
    notify: bool = False


@dataclass(frozen=True)
class RateVerdict:
    """How many of a turn's messages are within the rate limit, and whether to tell the user.

    The first ``admitted`` messages are answered; the ``refused`` ones after them are not read.
    """

    admitted: int
    refused: int = 0
    notify: bool = False


def check_rate(
    window: RateWindow | None, *, now: datetime, messages: int, limit: int
) -> tuple[RateWindow | None, RateVerdict]:
    """Count ``messages`` more in the current minute window; those over ``limit`` are refused.

    Every message is counted, refused ones included, so a flood keeps the window full.
    """
    if limit <= 0:
        return window, RateVerdict(admitted=messages)
    if window is None or now - window.started_at >= RATE_WINDOW:
        window = RateWindow(started_at=now)
    admitted = max(0, min(messages, limit - window.messages))
    refused = messages - admitted
    verdict = RateVerdict(admitted, refused, notify=refused > 0 and not window.notified)
    counted = window.model_copy(
        update={
            "messages": window.messages + messages,
            "notified": window.notified or refused > 0,
        }
    )
    return counted, verdict


def check_budget(
    budget: DailyTokens | None, *, today: date, limit: int
) -> tuple[DailyTokens | None, Verdict]:
    """Whether the tokens used ``today`` leave room for another turn under ``limit``."""
    if limit <= 0:
        return budget, Verdict(allowed=True)
    if budget is None or budget.day != today:
        budget = DailyTokens(day=today)
    allowed = budget.tokens < limit
    verdict = Verdict(allowed=allowed, notify=not allowed and not budget.notified)
    return budget.model_copy(update={"notified": budget.notified or not allowed}), verdict


def spend_tokens(budget: DailyTokens | None, *, today: date, tokens: int) -> DailyTokens:
    """``budget`` with ``tokens`` more used ``today``."""
    if budget is None or budget.day != today:
        budget = DailyTokens(day=today)
    return budget.model_copy(update={"tokens": budget.tokens + tokens})
