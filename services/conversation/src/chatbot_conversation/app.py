"""The conversation service app: the CHAT_INBOUND consumer plus health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from openai import AsyncOpenAI

from chatbot_common.runtime import NatsRuntime, Topology, create_worker_app
from chatbot_common.topology import CONVERSATIONS_BUCKET, DLQ, INBOUND, OUTBOUND, Consumer
from chatbot_common.worker import Handler

from .config import ConversationSettings
from .llm import ResponsesBackend
from .state import StateStore
from .turns import TurnHandler

__all__ = ["CONSUMER", "create_app"]

CONSUMER = Consumer(INBOUND, "conversation", ack_wait=120.0)


def create_app(settings: ConversationSettings) -> FastAPI:
    """The conversation ASGI app; the consumer runs in its lifespan."""

    @asynccontextmanager
    async def handler(runtime: NatsRuntime) -> AsyncIterator[Handler]:
        kv = await runtime.js.key_value(CONVERSATIONS_BUCKET.name)
        async with AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout,
        ) as client:
            yield TurnHandler(
                runtime,
                StateStore(kv),
                ResponsesBackend(client, settings),
                publish_timeout=settings.nats_publish_timeout,
            )

    return create_worker_app(
        service="conversation",
        settings=settings,
        topology=Topology(
            streams=(INBOUND, OUTBOUND, DLQ),
            consumers=(CONSUMER,),
            buckets=(CONVERSATIONS_BUCKET,),
        ),
        consumer=CONSUMER,
        concurrency=settings.max_concurrent_turns,
        handler_factory=handler,
    )
