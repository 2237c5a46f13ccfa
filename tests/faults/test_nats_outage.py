"""nats-server killed mid-flow and started again on the same store: nothing is lost.

The services are never restarted: they notice the outage (``/readyz`` answers 503), ingress
answers webhooks 503 so that Twilio retries them, and once nats-server is back every service
reconnects by itself, is ready again, and the flow finishes with every message answered once,
in order.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from chatbot_devstack import inbound_form, signed

from .conftest import SystemFactory
from .system import Traffic, check_ledger

pytestmark = pytest.mark.e2e

SERVICES = ("ingress", "conversation", "sender")


@pytest.mark.timeout(180)
async def test_nats_killed_and_restarted_on_its_store_mid_flow_loses_nothing(
    start_system: SystemFactory, rng: random.Random
) -> None:
    async with start_system(SANDBOX_TWILIO_LATENCY="0.1") as system:
        traffic = Traffic(system, rng, users=20, per_user=4, duration=8.0)
        flow = asyncio.create_task(traffic.run())
        await asyncio.sleep(rng.uniform(1.0, 3.0))  # a random moment of the flow
        await system.kill("nats")
        for name in SERVICES:
            await system.wait_ready(name, ready=False, timeout=10)
        url = f"{system.url('ingress')}/twilio/messages"
        form = inbound_form("while NATS is down")
        refused = await system.http.post(url, data=form, headers=signed(url, form))
        await system.restart("nats")
        for name in SERVICES:
            await system.wait_ready(name, timeout=30)
        sent = await flow
        await system.settle()
        outcome = await system.outcome()
        unavailable = await system.metric(
            "ingress", "chatbot_webhook_requests_total", outcome="unavailable"
        )

    assert refused.status_code == 503
    assert unavailable >= 1
    assert [reply for reply in outcome.replies if reply.to == form["From"]] == []
    check_ledger(sent, outcome)
