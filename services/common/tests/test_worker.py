"""The consumer loop against a real JetStream consumer."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from chatbot_common.topology import OUTBOUND, Consumer, provision
from chatbot_common.worker import ConsumerLoop, redelivery_delay

CONSUMER = Consumer(OUTBOUND, "test-worker", ack_wait=30.0)


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    js = nc.jetstream()
    await provision(js, streams=(OUTBOUND,), consumers=(CONSUMER,), duplicate_window=3600)
    return js


async def publish_numbers(js: JetStreamContext, count: int) -> None:
    for number in range(count):
        await js.publish(OUTBOUND.subject("k"), str(number).encode())


def test_redelivery_delay_grows_and_is_capped() -> None:
    delays = [redelivery_delay(n) for n in range(1, 10)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == 60.0


async def test_a_failing_handler_gets_the_message_again(js: JetStreamContext) -> None:
    attempts: list[int] = []
    done = asyncio.Event()

    async def handler(msg: Msg) -> None:
        attempts.append(msg.metadata.num_delivered)
        if len(attempts) == 1:
            raise RuntimeError("transient trouble")
        await msg.ack()
        done.set()

    loop = ConsumerLoop(js, CONSUMER, handler, limit=4)
    await loop.start()
    await publish_numbers(js, 1)
    await asyncio.wait_for(done.wait(), timeout=10)
    await loop.stop(timeout=5)
    assert attempts == [1, 2]


async def test_one_slow_message_does_not_hold_up_the_others(js: JetStreamContext) -> None:
    release = asyncio.Event()
    finished: list[bytes] = []
    others_done = asyncio.Event()

    async def handler(msg: Msg) -> None:
        if msg.data == b"0":
            await release.wait()
        await msg.ack()
        finished.append(msg.data)
        if len(finished) == 4:
            others_done.set()

    loop = ConsumerLoop(js, CONSUMER, handler, limit=8)
    await loop.start()
    await publish_numbers(js, 5)
    await asyncio.wait_for(others_done.wait(), timeout=10)
    assert b"0" not in finished
    release.set()
    await loop.stop(timeout=5)
    assert sorted(finished) == [b"0", b"1", b"2", b"3", b"4"]


async def test_never_more_than_the_limit_in_hand(js: JetStreamContext) -> None:
    running = 0
    peak = 0
    all_done = asyncio.Event()
    handled = 0

    async def handler(msg: Msg) -> None:
        nonlocal running, peak, handled
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)  # hold the slot across a few event-loop turns
        running -= 1
        await msg.ack()
        handled += 1
        if handled == 12:
            all_done.set()

    loop = ConsumerLoop(js, CONSUMER, handler, limit=3)
    await loop.start()
    await publish_numbers(js, 12)
    await asyncio.wait_for(all_done.wait(), timeout=10)
    await loop.stop(timeout=5)
    assert peak == 3


async def test_stop_returns_unfinished_work_to_the_stream(js: JetStreamContext) -> None:
    started = asyncio.Event()

    async def stuck(msg: Msg) -> None:
        started.set()
        await asyncio.Event().wait()

    first = ConsumerLoop(js, CONSUMER, stuck, limit=1)
    await first.start()
    await publish_numbers(js, 1)
    await asyncio.wait_for(started.wait(), timeout=10)
    await first.stop(timeout=0.1)

    redelivered: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

    async def handler(msg: Msg) -> None:
        await msg.ack()
        redelivered.set_result(msg)

    second = ConsumerLoop(js, CONSUMER, handler, limit=1)
    await second.start()
    msg = await asyncio.wait_for(redelivered, timeout=10)
    await second.stop(timeout=5)
    assert msg.data == b"0"
    assert msg.metadata.num_delivered == 2


async def test_the_handler_runs_in_the_publishers_trace(js: JetStreamContext) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from chatbot_common.bus import publish
    from chatbot_common.contracts import DeliveryStatus, utcnow

    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handler(msg: Msg) -> None:
        await msg.ack()
        seen.set_result(trace.get_current_span().get_span_context().trace_id)

    loop = ConsumerLoop(js, CONSUMER, handler, limit=1)
    await loop.start()
    status = DeliveryStatus(
        message_sid="SM1", account_sid="AC1", status="sent", received_at=utcnow()
    )
    with TracerProvider().get_tracer("test").start_as_current_span("webhook") as span:
        await publish(js, OUTBOUND.subject("k"), status, msg_id="m1", timeout=2)
    trace_id = await asyncio.wait_for(seen, timeout=10)
    await loop.stop(timeout=5)
    assert trace_id == span.get_span_context().trace_id
