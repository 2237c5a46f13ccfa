"""Storms at the two providers: everything is answered or dead-lettered, retries stay bounded.

The storms (rate limits, 5xx, slow answers, a refused number) and what must hold:
docs/reliability.md, "The model API misbehaves" and "Twilio misbehaves".
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pytest

from chatbot_devstack import user_number

from .conftest import SystemFactory
from .system import System, Traffic, check_ledger

pytestmark = pytest.mark.e2e

USERS = 20
PER_USER = 4
MODEL = "gpt-6.1-terra"  # the stack's default OPENAI_MODEL
MAX_ATTEMPTS = 6
STORM = " #storm"


def attempts_by_request(
    records: Iterable[dict[str, Any]], *keys: str
) -> list[list[dict[str, Any]]]:
    """Records grouped by the values of ``keys`` (the attempts of one request), oldest first."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[tuple(record[key] for key in keys)].append(record)
    return list(groups.values())


def gaps(attempts: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """Each failed attempt with the seconds until the next attempt of the same request."""
    times = [datetime.fromisoformat(attempt["received_at"]) for attempt in attempts]
    return [
        (attempt, (later - earlier).total_seconds())
        for attempt, earlier, later in zip(attempts, times, times[1:], strict=False)
    ]


async def model_errors(system: System) -> dict[str, float]:
    kinds = ("rate_limited", "server_error", "timeout", "conversation_locked")
    return {
        kind: await system.metric(
            "conversation", "chatbot_llm_errors_total", model=MODEL, error=kind
        )
        for kind in kinds
    }


@pytest.mark.timeout(180)
async def test_an_openai_storm_is_answered_or_dead_lettered_with_bounded_retries(
    start_system: SystemFactory, rng: random.Random
) -> None:
    marked = {(user, 1): STORM for user in range(0, USERS, 5)}
    async with start_system(
        OPENAI_TIMEOUT="1",
        OPENAI_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        OPENAI_RETRY_BUDGET="30",
    ) as system:
        await system.openai_faults(
            {"kind": "rate_limit", "match": STORM.strip(), "retry_after": 0.2, "count": 10_000},
            {"kind": "rate_limit", "probability": 0.3, "retry_after": 0.5, "count": 10_000},
            {"kind": "server_error", "probability": 0.05, "count": 10_000},
            {"kind": "stall", "probability": 0.05, "seconds": 1.5, "count": 10_000},
        )
        traffic = Traffic(system, rng, users=USERS, per_user=PER_USER, duration=6.0, suffix=marked)
        sent = await traffic.run()
        await system.settle(timeout=90)
        outcome = await system.outcome()
        requests = [
            r
            for r in await system.sandbox_records("openai/requests")
            if r["endpoint"] == "responses.create"
        ]
        errors = await model_errors(system)
        attempts = await system.metric(
            "conversation", "chatbot_llm_request_seconds_count", model=MODEL
        )
        answered = await system.metric(
            "conversation", "chatbot_llm_request_seconds_count", model=MODEL, outcome="ok"
        )

    summary = check_ledger(sent, outcome)
    # Dead letters only for spent retries; the #storm messages among them, with their cause.
    assert set(summary.conversation_dlq) <= {"llm_retries_exhausted"}
    stormed = {m.sid for messages in sent.values() for m in messages if m.text.endswith(STORM)}
    letters = {d.original_id: d for d in outcome.dead_letters}
    assert {(letters[sid].error_code, letters[sid].attempts) for sid in stormed} == {
        ("rate_limited", MAX_ATTEMPTS)
    }
    # Every attempt, and every failed one by its kind, is in the metrics.
    refused = [r for r in requests if r["status_code"] != 200]
    assert attempts == len(requests)
    assert errors["rate_limited"] == sum(r["status_code"] == 429 for r in refused) > 0
    assert errors["server_error"] == sum(r["status_code"] == 500 for r in refused)
    assert errors["conversation_locked"] == sum(
        r["error_code"] == "conversation_locked" for r in refused
    )
    # Every attempt was answered or failed in an injected way (a stall is a timeout): none else.
    assert answered + sum(errors.values()) == attempts
    # Bounded: no request is tried more than OPENAI_MAX_ATTEMPTS times, and a rate-limited one
    # not again before its Retry-After.
    turns = attempts_by_request(requests, "conversation", "input_text")
    assert max(len(turn) for turn in turns) == MAX_ATTEMPTS  # the #storm ones
    for turn in turns:
        for attempt, wait in gaps(turn):
            if attempt["status_code"] == 429:
                asked = 0.2 if STORM.strip() in attempt["input_text"] else 0.5
                assert wait >= asked - 0.05, (attempt, wait)


@pytest.mark.timeout(180)
async def test_a_twilio_storm_is_delivered_or_dead_lettered_with_bounded_retries(
    start_system: SystemFactory, rng: random.Random
) -> None:
    # No re-engagement template: a 63016 is dead-lettered (outside_window), not replaced.
    async with start_system(REENGAGE_CONTENT_SID="") as system:
        refused_user = user_number(USERS - 1)
        await system.twilio_fault(status=400, code=63016, to=refused_user, times=10_000)
        await system.twilio_fault(
            status=429, code=20429, retry_after="1", probability=0.3, times=10_000
        )
        await system.twilio_fault(status=503, probability=0.1, times=10_000)
        traffic = Traffic(system, rng, users=USERS, per_user=PER_USER, duration=6.0)
        sent = await traffic.run()
        await system.settle(timeout=90)
        outcome = await system.outcome()
        rejected = await system.sandbox_records("twilio/rejected")
        retried = await system.metric("sender", "chatbot_outbound_sends_total", outcome="retried")
        refused = await system.metric(
            "sender", "chatbot_outbound_sends_total", outcome="rejected", code="63016"
        )

    summary = check_ledger(sent, outcome)
    replies_to_refused = [r for r in outcome.replies if r.to == refused_user]
    letters = [d for d in outcome.dead_letters if d.service == "sender"]
    assert summary.sender_dlq == {"outside_window": len(replies_to_refused)}
    assert {(d.error_code, d.attempts) for d in letters} == {("63016", 1)}
    # Every retried and refused send is in the metrics.
    transient = [r for r in rejected if r["status_code"] in (429, 503)]
    assert retried == len(transient) > 0
    assert refused == len(replies_to_refused)
    # No hot loop: a retried send waits for its Retry-After (1 s) or the growing delay (1 s,
    # 2 s, ...) before its next attempt.
    attempts = sorted(rejected + outcome.accepted, key=lambda record: record["received_at"])
    for send in attempts_by_request(attempts, "to", "body"):
        for attempt, wait in gaps(send):
            assert wait >= 0.95, (attempt, wait)
