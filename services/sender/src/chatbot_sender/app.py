"""The sender service app: the CHAT_OUTBOUND consumer, erase requests, health and metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatbot_common.runtime import NatsRuntime, Topology, create_worker_app
from chatbot_common.topology import DELIVERIES_BUCKET, DLQ, OUTBOUND, Consumer
from chatbot_common.worker import Handler

from .config import SenderSettings
from .deliveries import Deliveries
from .erasure import serving_erasures
from .progress import Progress
from .ratelimit import RateLimiter
from .sends import SendHandler
from .twilio_client import Sender, open_twilio

__all__ = ["DURABLE", "create_app"]

DURABLE = "sender"


def create_app(settings: SenderSettings) -> FastAPI:
    """The sender ASGI app; the consumer runs in its lifespan."""
    consumer = Consumer(OUTBOUND, DURABLE, ack_wait=settings.send_ack_wait)

    @asynccontextmanager
    async def handler(runtime: NatsRuntime) -> AsyncIterator[Handler]:
        kv = await runtime.js.key_value(DELIVERIES_BUCKET.name)
        deliveries = Deliveries(kv)
        async with (
            open_twilio(settings) as twilio,
            contextlib.aclosing(deliveries),
            serving_erasures(runtime.nc, runtime.js, kv),
        ):
            yield SendHandler(
                js=runtime.js,
                deliveries=deliveries,
                progress=Progress(runtime.js, kv, consumer),
                twilio=twilio,
                limiter=RateLimiter(
                    settings.send_rate_per_second,
                    settings.send_rate_burst,
                    settings.send_rate_max_wait,
                ),
                default_sender=Sender(
                    from_=settings.twilio_whatsapp_from,
                    messaging_service_sid=settings.twilio_messaging_service_sid,
                ),
                media=settings.send_media,
                typing=settings.send_typing_indicator,
                publish_timeout=settings.nats_publish_timeout,
                record_hold=settings.delivery_record_hold,
                backoff_max=settings.send_backoff_max,
                reengage_content_sid=settings.reengage_content_sid,
                provisioner=runtime.provisioner,
            )

    return create_worker_app(
        service="sender",
        settings=settings,
        topology=Topology(
            streams=(OUTBOUND, DLQ), consumers=(consumer,), buckets=(DELIVERIES_BUCKET,)
        ),
        consumer=consumer,
        concurrency=settings.max_concurrent_sends,
        handler_factory=handler,
    )
