"""The metrics added for operators, against a real NATS: delivery statuses counted by ingress,
and the consumer loop's lag and saturation gauges."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from chatbot_common.topology import OUTBOUND, Consumer, provision
from chatbot_common.worker import ConsumerLoop
from chatbot_devstack import ACCOUNT_SID, BUSINESS_NUMBER, signed
from chatbot_ingress.app import create_app
from chatbot_ingress.config import IngressSettings
from chatbot_ingress.metrics import delivery_status_labels

TOKEN = "test-auth-token"
PUBLIC = "https://bot.example.com"
STATUS_URL = f"{PUBLIC}/twilio/status"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def status_form(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    form = {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "MessageStatus": status,
        "From": BUSINESS_NUMBER,
        "To": "whatsapp:+15550001111",
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


async def post_status(client: httpx.AsyncClient, form: dict[str, str]) -> int:
    answer = await client.post("/twilio/status", data=form, headers=signed(STATUS_URL, form, TOKEN))
    return answer.status_code


async def test_status_callbacks_are_counted_once_by_status_and_error_code(
    nats_server: Any,
) -> None:
    settings = IngressSettings(
        nats_url=nats_server.url,
        user_key_secret="test-user-key-secret",
        twilio_auth_token=TOKEN,
        public_base_url=PUBLIC,
    )
    app = create_app(settings)
    failed = {"status": "failed", "error_code": "63016"}
    delivered = {"status": "delivered", "error_code": ""}
    failed_before = sample("chatbot_delivery_statuses_total", **failed)
    delivered_before = sample("chatbot_delivery_statuses_total", **delivered)
    async with (
        app.api.router.lifespan_context(app.api),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
    ):
        sid, other = "SM" + uuid.uuid4().hex, "SM" + uuid.uuid4().hex
        for form in (
            status_form(sid, "delivered"),
            status_form(sid, "delivered"),  # Twilio's retry: JetStream drops it, not counted
            status_form(other, "failed", "63016"),
        ):
            assert await post_status(client, form) == 200
    assert sample("chatbot_delivery_statuses_total", **delivered) == delivered_before + 1
    assert sample("chatbot_delivery_statuses_total", **failed) == failed_before + 1


def test_status_labels_stay_bounded() -> None:
    assert delivery_status_labels("read", None) == ("read", "")
    assert delivery_status_labels("undelivered", 63024) == ("undelivered", "63024")
    assert delivery_status_labels("made-up-status", 10**9) == ("other", "other")


CONSUMER = Consumer(OUTBOUND, "test-gauges", ack_wait=30.0)


async def test_consumer_gauges_show_lag_and_saturation(nc: NATS) -> None:
    js: JetStreamContext = nc.jetstream()
    await provision(js, streams=(OUTBOUND,), consumers=(CONSUMER,), duplicate_window=3600)
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(msg: Msg) -> None:
        started.set()
        await release.wait()
        await msg.ack()

    for number in range(5):
        await js.publish(OUTBOUND.subject("k"), str(number).encode())
    loop = ConsumerLoop(js, CONSUMER, handler, limit=2, lag_interval=0.1)
    name = {"consumer": CONSUMER.durable}
    assert sample("chatbot_consumer_max_in_flight_messages", **name) == 2
    await loop.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=10)

        async def lag_is(pending: float, ack_pending: float) -> None:
            while (
                sample("chatbot_consumer_pending_messages", **name),
                sample("chatbot_consumer_ack_pending_messages", **name),
            ) != (pending, ack_pending):
                loop.lag.updated.clear()
                await loop.lag.updated.wait()

        # Two in hand (the limit), three still in the stream for this consumer.
        await asyncio.wait_for(lag_is(3, 2), timeout=10)
        assert sample("chatbot_consumer_in_flight_messages", **name) == 2
        release.set()
        await asyncio.wait_for(lag_is(0, 0), timeout=10)
    finally:
        release.set()
        await loop.stop(timeout=5)
    assert sample("chatbot_consumer_in_flight_messages", **name) == 0
    ok = sample("chatbot_consumer_messages_total", consumer=CONSUMER.durable, outcome="ok")
    assert ok >= 5
    # Outcomes that did not happen are there too, at zero, from the start.
    assert (
        REGISTRY.get_sample_value(
            "chatbot_consumer_messages_total", {"consumer": CONSUMER.durable, "outcome": "error"}
        )
        == 0
    )
