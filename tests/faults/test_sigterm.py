"""SIGTERM under load, as Kubernetes stops a pod: work in hand finishes or comes back.

Each service gets SIGTERM while it has work in hand: the conversation service in the middle of
a model answer that takes longer than its DRAIN_TIMEOUT (so that turn is cut off and must be
answered again after the restart), the sender while it sends, ingress while webhooks arrive.
Each must exit within its grace period, and the flow must end with every message answered once,
in order, with no reply sent twice.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from chatbot_devstack import poll

from .conftest import SystemFactory
from .system import System, Traffic, check_ledger

pytestmark = pytest.mark.e2e

DRAIN_TIMEOUT = 3.0
GRACE = DRAIN_TIMEOUT + 5.0
"""The pod's grace period in the chart's proportions: above DRAIN_TIMEOUT plus a margin."""
SLOW = " #slow"
STALL = 6.0
"""Seconds the marked answers take: more than DRAIN_TIMEOUT, less than OPENAI_TIMEOUT."""


async def slow_answer_in_flight(system: System) -> str:
    """Wait until a marked model request is being answered; its input."""
    found: list[str] = []

    async def in_flight() -> bool:
        found[:] = [
            r["input_text"]
            for r in await system.sandbox_records("openai/requests")
            if r["status_code"] is None and SLOW.strip() in (r["input_text"] or "")
        ]
        return bool(found)

    await poll(in_flight, every=0.05, timeout=30)
    return found[0]


async def sends_in_hand(system: System) -> bool:
    in_flight = await system.metric("sender", "chatbot_consumer_in_flight_messages")
    return in_flight > 0


@pytest.mark.timeout(240)
async def test_sigterm_under_load_finishes_or_returns_work_and_exits_within_the_grace(
    start_system: SystemFactory, rng: random.Random
) -> None:
    slow = {(user, 1): SLOW for user in range(0, 20, 4)}
    async with start_system(
        DRAIN_TIMEOUT=str(DRAIN_TIMEOUT),
        OPENAI_TIMEOUT="15",
        SANDBOX_OPENAI_LATENCY="0.2",
        SANDBOX_TWILIO_LATENCY="0.2",
    ) as system:
        await system.openai_faults(
            {"kind": "stall", "match": SLOW.strip(), "seconds": STALL, "count": 10_000}
        )
        traffic = Traffic(system, rng, users=20, per_user=4, duration=10.0, suffix=slow)
        flow = asyncio.create_task(traffic.run())

        cut_off = await slow_answer_in_flight(system)
        took = {"conversation": await system.terminate("conversation", GRACE)}
        await system.restart("conversation")
        await poll(lambda: sends_in_hand(system), every=0.02, timeout=30)
        took["sender"] = await system.terminate("sender", GRACE)
        await system.restart("sender")
        took["ingress"] = await system.terminate("ingress", GRACE)
        await system.restart("ingress")

        sent = await flow
        await system.settle(timeout=90)
        outcome = await system.outcome()
        asked = [
            r for r in await system.sandbox_records("openai/requests") if r["input_text"] == cut_off
        ]

    assert all(seconds < GRACE for seconds in took.values()), took
    # The cut-off turn was given back and answered after the restart: asked twice, answered once.
    assert len(asked) >= 2, asked
    check_ledger(sent, outcome)
