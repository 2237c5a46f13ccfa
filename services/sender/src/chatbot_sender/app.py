"""The sender service app: the CHAT_OUTBOUND consumer plus health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatbot_common.runtime import NatsRuntime, Topology, create_worker_app
from chatbot_common.topology import DELIVERIES_BUCKET, DLQ, OUTBOUND, Consumer
from chatbot_common.worker import Handler

from .config import SenderSettings
from .deliveries import Deliveries
from .sends import SendHandler
from .twilio_client import twilio_sender

__all__ = ["CONSUMER", "create_app"]

CONSUMER = Consumer(OUTBOUND, "sender", ack_wait=60.0)


def create_app(settings: SenderSettings) -> FastAPI:
    """The sender ASGI app; the consumer runs in its lifespan."""

    @asynccontextmanager
    async def handler(runtime: NatsRuntime) -> AsyncIterator[Handler]:
        kv = await runtime.js.key_value(DELIVERIES_BUCKET.name)
        async with twilio_sender(settings) as twilio:
            yield SendHandler(
                runtime, Deliveries(kv), twilio, publish_timeout=settings.nats_publish_timeout
            )

    return create_worker_app(
        service="sender",
        settings=settings,
        topology=Topology(
            streams=(OUTBOUND, DLQ), consumers=(CONSUMER,), buckets=(DELIVERIES_BUCKET,)
        ),
        consumer=CONSUMER,
        concurrency=settings.max_concurrent_sends,
        handler_factory=handler,
    )
