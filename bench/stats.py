"""The arithmetic of the benchmarks: percentiles, schedules, reply accounting, targets.

Kept free of I/O so tests/bench checks it in milliseconds: a wrong percentile or a miscounted
lost reply would make every number the harness prints a lie.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "TOKEN",
    "Accounting",
    "Check",
    "Latency",
    "Planned",
    "Reply",
    "account",
    "bursts",
    "constant_rate",
    "growth",
    "next_rate",
    "overtaken",
    "per_second",
    "percentile",
    "round_robin",
    "slope_per_minute",
    "token",
    "tokens_in",
]

TOKEN = re.compile(r"\btok(\d+)\b")
"""How a message's number appears in its text, and so in the echo of every reply to it."""


def token(number: int) -> str:
    return f"tok{number}"


def tokens_in(text: str) -> list[int]:
    """The message numbers a reply's text answers, in the order they appear."""
    return [int(found) for found in TOKEN.findall(text)]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it.

    No interpolation, so a reported p99 is a latency some request really had.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    return _nearest_rank(sorted(values), fraction) if values else math.nan


def _nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@dataclass(frozen=True)
class Latency:
    """A latency distribution in milliseconds (from seconds)."""

    count: int
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = sorted(value * 1000 for value in seconds)
        if not ms:
            return cls(0, *(math.nan,) * 6)
        return cls(
            count=len(ms),
            p50=round(_nearest_rank(ms, 0.5), 3),
            p90=round(_nearest_rank(ms, 0.9), 3),
            p95=round(_nearest_rank(ms, 0.95), 3),
            p99=round(_nearest_rank(ms, 0.99), 3),
            max=round(ms[-1], 3),
            mean=round(sum(ms) / len(ms), 3),
        )


@dataclass(frozen=True)
class Planned:
    """One message of a schedule: seconds after the start, the user who sends it, its number.

    Numbers grow with time for each user, so replies answering a smaller number after a larger
    one are out of order.
    """

    at: float
    user: int
    number: int


def constant_rate(rate: float, seconds: float) -> list[float]:
    """Evenly spaced send offsets: ``rate`` per second for ``seconds``."""
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    return [index / rate for index in range(round(rate * seconds))]


def round_robin(offsets: Sequence[float], users: int) -> list[Planned]:
    """Messages at ``offsets`` taking turns over ``users``: each user writes every users/rate s."""
    return [Planned(at, index % users, index) for index, at in enumerate(offsets)]


def bursts(users: int, per_user: int, gap: float, spread: float) -> list[Planned]:
    """Each user sends ``per_user`` messages ``gap`` apart; user starts spread over ``spread`` s."""
    times = [
        (user * spread / users + index * gap, user)
        for user in range(users)
        for index in range(per_user)
    ]
    times.sort()
    return [Planned(at, user, number) for number, (at, user) in enumerate(times)]


@dataclass(frozen=True)
class Reply:
    """One message the fake Twilio accepted: when (wall clock seconds), to whom, what text."""

    at: float
    to: str
    body: str


@dataclass
class Accounting:
    """What became of the planned messages, read from the replies.

    ``answered`` maps a message number to when its (first) reply reached Twilio; a message
    answered by no reply is lost, one answered by two or more is duplicated (``copies`` keeps
    each of its replies: the same text twice is a reply sent twice, a different echo number
    is a second turn). A reply that answers no planned message (a rate-limit notice, say) is
    ``unmatched``; one sent to another user than the message's is ``misdirected``.
    ``order_violations`` counts messages answered after a later message of the same user was,
    "later" in the order ingress accepted them (see :func:`account`).
    """

    answered: dict[int, float] = field(default_factory=dict)
    lost: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    copies: dict[int, list[Reply]] = field(default_factory=dict)
    unmatched: int = 0
    misdirected: int = 0
    order_violations: int = 0
    turns: int = 0

    @property
    def clean(self) -> bool:
        """No lost, duplicate, unmatched or misdirected reply and no order violation."""
        return not (
            self.lost
            or self.duplicates
            or self.unmatched
            or self.misdirected
            or self.order_violations
        )


def account(
    planned: Sequence[Planned],
    replies: Iterable[Reply],
    address: dict[int, str],
    accepted: Sequence[int] | None = None,
) -> Accounting:
    """Match replies to messages by the tokens their texts carry (see :data:`TOKEN`).

    ``address`` maps a user to the WhatsApp address replies to them go to. Replies are taken
    in the order Twilio accepted them (by time, ties in the given order). ``accepted`` lists
    the message numbers in the order ingress acknowledged their webhooks: the order the system
    promises to keep. Webhooks sent 100 ms apart can overtake each other on the way in (as
    Twilio's can), and no service could tell; without ``accepted`` the send order is used.
    """
    result = Accounting()
    by_number = {message.number: message for message in planned}
    rank = {number: position for position, number in enumerate(accepted or sorted(by_number))}
    seen: Counter[int] = Counter()
    first: dict[int, Reply] = {}
    highest: dict[str, int] = defaultdict(lambda: -1)
    for reply in sorted(replies, key=lambda reply: reply.at):
        numbers = [number for number in tokens_in(reply.body) if number in by_number]
        if not numbers:
            result.unmatched += 1
            continue
        result.turns += 1
        for number in numbers:
            seen[number] += 1
            if seen[number] > 1:
                result.copies.setdefault(number, [first[number]]).append(reply)
                continue
            result.answered[number] = reply.at
            first[number] = reply
            if address[by_number[number].user] != reply.to:
                result.misdirected += 1
            position = rank.get(number, number)
            if position < highest[reply.to]:
                result.order_violations += 1
            highest[reply.to] = max(highest[reply.to], position)
    result.lost = sorted(number for number in by_number if number not in seen)
    result.duplicates = sorted(number for number, count in seen.items() if count > 1)
    return result


@dataclass(frozen=True)
class Check:
    """One target: what is measured, its value, the limit and which side of it passes."""

    what: str
    value: float
    limit: float
    unit: str = ""
    rule: Literal["<", ">=", "=="] = "<"

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        if self.rule == "<":
            return self.value < self.limit
        if self.rule == ">=":
            return self.value >= self.limit
        return self.value == self.limit

    def __str__(self) -> str:
        verdict = "met" if self.met else "MISSED"
        target = f"{self.rule} {self.limit:g}{self.unit}"
        return f"{self.what}: {self.value:g}{self.unit} (target {target}) {verdict}"


def next_rate(
    results: Sequence[tuple[float, bool]], *, start: float, growth: float, resolution: float
) -> float | None:
    """The next rate of a capacity search, or None when the capacity is known closely enough.

    ``results`` are the (rate, passed) steps so far. Rates grow by ``growth`` until a step
    fails, then the gap between the best pass and the lowest failure is halved until it is
    under ``resolution`` (a fraction of the best pass). Rates are rounded to tens.
    """
    if not results:
        return start
    passed = [rate for rate, ok in results if ok]
    failed = [rate for rate, ok in results if not ok]
    best = max(passed, default=0.0)
    if not failed:
        return float(round(best * growth / 10) * 10)
    lowest_failure = min(failed)
    if not passed:
        low = lowest_failure / growth
        return float(round(low / 10) * 10) if low >= 10 else None
    if lowest_failure - best <= resolution * best:
        return None
    middle = float(round((best + lowest_failure) / 20) * 10)
    return middle if best < middle < lowest_failure else None


def slope_per_minute(times: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against ``times`` (seconds), per minute."""
    if len(times) < 2:
        return 0.0
    mean_t = sum(times) / len(times)
    mean_v = sum(values) / len(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / spread
    return slope * 60


def per_second(times: Sequence[float], start: float) -> list[int]:
    """How many of ``times`` fall in each whole second after ``start`` (earlier ones: the first)."""
    if not times:
        return []
    counts = [0] * (math.floor(max(times) - start) + 1 if max(times) >= start else 1)
    for at in times:
        counts[max(0, math.floor(at - start))] += 1
    return counts


def overtaken(planned: Sequence[Planned], accepted: Sequence[int]) -> int:
    """How many messages ingress acknowledged after a later message of the same user."""
    user = {message.number: message.user for message in planned}
    latest: dict[int, int] = {}
    count = 0
    for number in accepted:
        if number < latest.get(user[number], -1):
            count += 1
        latest[user[number]] = max(latest.get(user[number], -1), number)
    return count


def growth(times: Sequence[float], values: Sequence[float], *, skip: float = 0.2) -> float:
    """How much ``values`` grew along their least-squares trend over the run after its first
    ``skip`` share (the warm-up: imports, caches, first connections), in their own unit."""
    if len(times) < 2:
        return 0.0
    cut = times[0] + skip * (times[-1] - times[0])
    kept = [(t, v) for t, v in zip(times, values, strict=True) if t >= cut]
    if len(kept) < 2:
        return 0.0
    slope = slope_per_minute([t for t, _ in kept], [v for _, v in kept])
    return slope * (kept[-1][0] - kept[0][0]) / 60
