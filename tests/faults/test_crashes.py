"""kill -9 of each service at random moments under load: nothing lost, nothing doubled, in order.

200 messages from 50 users flow while ingress, the conversation service and the sender are each
killed once (random order, random moments) and started again, as an orchestrator would. A few
messages are made to fail for good at the model (``insufficient_quota``): those get the apology
and a dead letter instead of an answer.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from .conftest import SystemFactory
from .system import System, Traffic, check_ledger

pytestmark = pytest.mark.e2e

SERVICES = ("ingress", "conversation", "sender")
USERS = 50
PER_USER = 4
FAILING = " #fail"


async def crash_each_service(system: System, rng: random.Random) -> list[str]:
    """Kill each service once, in random order and at random moments; restart each at once."""
    order = rng.sample(SERVICES, len(SERVICES))
    for name in order:
        await asyncio.sleep(rng.uniform(0.5, 2.5))
        await system.kill(name)
        await system.restart(name)
    return order


@pytest.mark.timeout(240)
async def test_kill_9_of_each_service_under_load_loses_doubles_and_reorders_nothing(
    start_system: SystemFactory, rng: random.Random
) -> None:
    failing = {
        (user, index): FAILING
        for user in range(USERS)
        for index in range(PER_USER)
        if rng.random() < 0.05
    }
    async with start_system(SANDBOX_TWILIO_LATENCY="0.2") as system:
        await system.openai_faults(
            {"kind": "insufficient_quota", "match": FAILING.strip(), "count": 100_000}
        )
        traffic = Traffic(
            system, rng, users=USERS, per_user=PER_USER, duration=12.0, suffix=failing
        )
        assert traffic.count == 200
        crashes = asyncio.create_task(crash_each_service(system, rng))
        sent = await traffic.run()
        await crashes
        await system.settle()
        outcome = await system.outcome()

    summary = check_ledger(sent, outcome, sender_kills=system.kills["sender"])
    doomed = [m.sid for messages in sent.values() for m in messages if m.text.endswith(FAILING)]
    letters = {d.original_id: d for d in outcome.dead_letters if d.service == "conversation"}
    assert all(
        (letters[sid].reason, letters[sid].error_code) == ("llm_failed", "insufficient_quota")
        for sid in doomed
    )
    assert summary.apologies >= (1 if doomed else 0)
    assert summary.sender_dlq == {}
    # A crash never starts a user's conversation over: the responder's count begins once.
    restarted = [
        user
        for user in sent
        if sum(r.body.startswith("Echo #1:") for r in outcome.replies if r.to == user) > 1
    ]
    assert restarted == []
