"""NATS back on an empty store, and a store that refuses writes: the services recover by
themselves, and ``/readyz`` says what stops them meanwhile.

The services are never restarted. On an empty store every stream, consumer and bucket is gone;
each service finds that out (within seconds, or at once when an operation says so), declares
them again, and the messages sent afterwards are answered once. A stream that refuses writes
(its message limit reached) makes ingress answer 503 and say so on ``/readyz``; lifting the
limit makes it ready again, and the messages Twilio retried are answered.
"""

from __future__ import annotations

import asyncio
import random
import shutil

import pytest
from nats.js.api import DiscardPolicy, StreamConfig

from chatbot_common.topology import INBOUND
from chatbot_devstack import inbound_form, signed

from .conftest import SystemFactory
from .system import Traffic, check_ledger

pytestmark = pytest.mark.e2e

SERVICES = ("ingress", "conversation", "sender")


@pytest.mark.timeout(180)
async def test_nats_back_on_an_empty_store_is_declared_again_and_answers(
    start_system: SystemFactory, rng: random.Random
) -> None:
    async with start_system() as system:
        await system.kill("nats")
        shutil.rmtree(system.stack.run_dir / "jetstream")
        await system.restart("nats")
        for name in SERVICES:
            await system.wait_ready(name, timeout=30)
        sent = await Traffic(system, rng, users=5, per_user=3, duration=3.0).run()
        await system.settle()
        outcome = await system.outcome()
        redeclared = {
            name: await system.metric(name, "chatbot_jetstream_redeclared_total")
            for name in SERVICES
        }

    check_ledger(sent, outcome)
    assert all(count >= 1 for count in redeclared.values()), redeclared


@pytest.mark.timeout(180)
async def test_a_store_that_refuses_writes_is_unready_then_answers_what_twilio_retried(
    start_system: SystemFactory,
) -> None:
    async with start_system() as system:
        await system.deliver(inbound_form("before the store is full"))
        info = await system.js.stream_info(INBOUND.name)
        limited = StreamConfig.from_response(info.config.as_dict())
        # Full: a new message is refused (0 would be no limit; discarding old ones, a loss).
        limited.max_msgs, limited.discard = info.state.messages, DiscardPolicy.NEW
        await system.js.update_stream(limited)
        url = f"{system.url('ingress')}/twilio/messages"
        form = inbound_form("while the store is full")
        refused = await system.http.post(url, data=form, headers=signed(url, form))
        reason = (await system.http.get(f"{system.url('ingress')}/readyz")).json()
        await system.wait_ready("ingress", ready=False, timeout=5)
        refusals = await system.metric("ingress", "chatbot_jetstream_writes_refused_total")

        await system.js.update_stream(StreamConfig.from_response(info.config.as_dict()))
        delivered = asyncio.create_task(system.deliver(form))  # Twilio retries
        await system.wait_ready("ingress", timeout=30)
        await delivered
        await system.settle()
        outcome = await system.outcome()

    assert refused.status_code == 503
    assert "refuses writes" in reason.get("reason", ""), reason
    assert refusals >= 1
    assert len(outcome.replies) == 2  # the message before and the one Twilio retried
