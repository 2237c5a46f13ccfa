"""What became of each message in the versus-seed runs, counted from what the sandbox saw.

Pure arithmetic over the replies' accounting (bench/stats.py) and the fake OpenAI's request
records, so tests/bench checks it without a stack: how many messages were answered once,
twice or never; which were in flight when a process was killed and what became of them; and
whose conversation the model lost (its requests went to a second conversation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import Accounting, Planned, tokens_in

__all__ = ["KillOutcome", "answer_counts", "conversations_by_user", "errors", "kill_outcome"]


def answer_counts(planned: Sequence[Planned], accounting: Accounting) -> dict[int, int]:
    """How many messages were answered 0, 1, 2, ... times (replies that answer them)."""
    counts: dict[int, int] = defaultdict(int)
    for message in planned:
        if message.number in accounting.copies:
            counts[len(accounting.copies[message.number])] += 1
        else:
            counts[1 if message.number in accounting.answered else 0] += 1
    return dict(sorted(counts.items()))


def errors(records: Iterable[Mapping[str, Any]], code: str) -> int:
    """How many of the fake OpenAI's requests it refused with error ``code``."""
    return sum(1 for record in records if record.get("error_code") == code)


def conversations_by_user(
    records: Iterable[Mapping[str, Any]], planned: Sequence[Planned]
) -> dict[int, set[str]]:
    """The OpenAI conversations each user's model requests named, read from the requests'
    input (which carries the tokens of the messages it answers)."""
    user_of = {message.number: message.user for message in planned}
    used: dict[int, set[str]] = defaultdict(set)
    for record in records:
        conversation = record.get("conversation")
        if record.get("endpoint") != "responses.create" or not conversation:
            continue
        for number in tokens_in(record.get("input_text") or ""):
            if number in user_of:
                used[user_of[number]].add(conversation)
    return dict(used)


@dataclass(frozen=True)
class KillOutcome:
    """The messages around a kill -9: sent before it and not yet answered (in flight), sent
    while the process was down (until it was ready again), and sent after; how many of each
    were never answered."""

    in_flight: int
    in_flight_lost: int
    while_down: int
    while_down_lost: int
    after: int
    after_lost: int


def kill_outcome(
    planned: Sequence[Planned],
    started: float,
    answered: Mapping[int, float],
    killed: float,
    back: float,
) -> KillOutcome:
    """Sort the messages of a run that started at ``started`` (wall clock) around a kill at
    ``killed`` and the process ready again at ``back``; ``answered`` maps a message number to
    when its first reply reached Twilio."""
    counts = {"in_flight": [0, 0], "while_down": [0, 0], "after": [0, 0]}
    for message in planned:
        sent = started + message.at
        reply = answered.get(message.number)
        if sent < killed:
            if reply is not None and reply <= killed:
                continue
            group = "in_flight"
        else:
            group = "while_down" if sent < back else "after"
        counts[group][0] += 1
        counts[group][1] += reply is None
    return KillOutcome(*counts["in_flight"], *counts["while_down"], *counts["after"])
