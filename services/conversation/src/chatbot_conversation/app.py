"""The conversation service app: the CHAT_INBOUND consumer plus health and metrics.

:func:`create_app` wires the parts once per process: the OpenAI client (our retries, aiohttp
transport), the backend and its tools, state store, mailbox, turn runner, the media downloader
and the tool calls each on an HTTP session of their own, and the watch of the models' shutdown
dates.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import httpx2
from fastapi import FastAPI
from openai import AsyncOpenAI, DefaultAioHttpClient
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from chatbot_common.runtime import NatsRuntime, Topology, create_worker_app
from chatbot_common.topology import (
    CONVERSATIONS_BUCKET,
    DLQ,
    HANDOFFS_BUCKET,
    INBOUND,
    OUTBOUND,
    REQUESTS_BUCKET,
    Consumer,
)
from chatbot_common.worker import Handler

from .chat_backend import ChatBackend
from .config import ConversationSettings
from .erasure import Erasure
from .handler import TurnHandler
from .handoff import ChatwootDesk, Desk, WebhookDesk
from .handoff.flow import Handoffs
from .handoff.waiting import HandoffIndex, watching_handoffs
from .llm import Backend, ModelRequests
from .mailbox import Mailbox
from .media.attachments import Attachments
from .media.download import MediaDownloader
from .media.transcription import Transcriber
from .model_watch import watch_models
from .outbox import SERVICE, Outbox
from .responses_backend import ResponsesBackend
from .retry import RetryPolicy
from .state import StateStore
from .telemetry import TRACER_NAME
from .tools import ToolRunner
from .turns import TurnRunner

__all__ = ["create_app", "inbound_consumer"]

CONSUMER_NAME = "conversation"
DESK_TIMEOUT = 15.0
"""Seconds one desk request may take."""


def inbound_consumer(settings: ConversationSettings) -> Consumer:
    """The durable consumer all replicas share."""
    return Consumer(INBOUND, CONSUMER_NAME, ack_wait=settings.inbound_ack_wait)


def _connection_limits(settings: ConversationSettings) -> httpx2.Limits:
    """One pooled connection per turn that may be in flight, all kept alive."""
    return httpx2.Limits(
        max_connections=settings.max_concurrent_turns,
        max_keepalive_connections=settings.max_concurrent_turns,
    )


def _backend(
    client: AsyncOpenAI,
    requests: ModelRequests,
    tools: ToolRunner | None,
    settings: ConversationSettings,
) -> Backend:
    handoff = settings.handoff_desk != "none"
    if settings.openai_backend == "chat":
        return ChatBackend(
            client,
            requests,
            instructions=settings.instructions,
            history_tokens=settings.chat_history_tokens,
            max_tokens_parameter=settings.chat_max_tokens_parameter,
            tools=tools,
            handoff=handoff,
        )
    return ResponsesBackend(
        client, requests, instructions=settings.instructions, tools=tools, handoff=handoff
    )


def _desk(session: aiohttp.ClientSession, settings: ConversationSettings) -> Desk:
    """The helpdesk users are handed to (HANDOFF_DESK: chatwoot or webhook)."""
    policy = RetryPolicy(
        max_attempts=settings.openai_max_attempts,
        initial=settings.openai_backoff_initial,
        maximum=settings.openai_backoff_max,
        budget=settings.openai_retry_budget,
    )
    rng = random.Random()  # noqa: S311 - jitter
    if settings.handoff_desk == "webhook":
        assert settings.handoff_webhook_url
        assert settings.handoff_webhook_secret
        return WebhookDesk(
            session,
            url=settings.handoff_webhook_url,
            secret=settings.handoff_webhook_secret.get_secret_value(),
            policy=policy,
            rng=rng,
        )
    assert settings.chatwoot_base_url
    assert settings.chatwoot_account_id
    assert settings.chatwoot_inbox_id
    assert settings.chatwoot_api_token
    return ChatwootDesk(
        session,
        base_url=settings.chatwoot_base_url,
        account_id=settings.chatwoot_account_id,
        inbox_id=settings.chatwoot_inbox_id,
        token=settings.chatwoot_api_token.get_secret_value(),
        policy=policy,
        rng=rng,
    )


def _attachments(
    session: aiohttp.ClientSession,
    client: AsyncOpenAI,
    requests: ModelRequests,
    settings: ConversationSettings,
) -> Attachments:
    downloader = MediaDownloader(
        session,
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        base_url=settings.twilio_api_base_url,
        max_bytes=settings.media_max_bytes,
        timeout=settings.media_timeout,
        policy=RetryPolicy(
            max_attempts=settings.media_max_attempts,
            initial=settings.openai_backoff_initial,
            maximum=settings.openai_backoff_max,
            budget=settings.openai_retry_budget,
        ),
        rng=random.Random(),  # noqa: S311 - jitter
    )
    return Attachments(
        downloader,
        Transcriber(client, requests, model=settings.openai_transcription_model),
        image_types=settings.media_image_types,
        audio_types=settings.media_audio_types,
        max_count=settings.media_max_count,
    )


def create_app(
    settings: ConversationSettings, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The conversation ASGI app; the consumer runs in its lifespan.

    ``tracer_provider`` defaults to the global one (set up by ``serve``).
    """
    consumer = inbound_consumer(settings)
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)

    @asynccontextmanager
    async def handler(runtime: NatsRuntime) -> AsyncIterator[Handler]:
        kv = await runtime.js.key_value(CONVERSATIONS_BUCKET.name)
        async with (
            AsyncOpenAI(
                api_key=settings.openai_api_key.get_secret_value(),
                base_url=settings.openai_base_url,
                timeout=settings.openai_timeout,
                max_retries=0,
                http_client=DefaultAioHttpClient(limits=_connection_limits(settings)),
            ) as client,
            aiohttp.ClientSession(headers={"User-Agent": "chatbot-conversation"}) as media,
            aiohttp.ClientSession(headers={"User-Agent": "chatbot-conversation"}) as calls,
            aiohttp.ClientSession(
                headers={"User-Agent": "chatbot-conversation"},
                timeout=aiohttp.ClientTimeout(total=DESK_TIMEOUT),
            ) as desk_session,
            watch_models(
                client,
                (settings.openai_model, settings.openai_transcription_model),
                interval=settings.openai_model_watch_interval,
            ),
            AsyncExitStack() as optional,
        ):
            requests = ModelRequests(client, settings, tracer, random.Random())  # noqa: S311 - jitter
            tools = (
                ToolRunner(settings.tools, calls, tracer, random.Random())  # noqa: S311 - jitter
                if settings.tools is not None
                else None
            )
            mailbox = Mailbox(runtime.js, coalesce_window=settings.coalesce_window)
            outbox = Outbox(
                runtime.js,
                timeout=settings.nats_publish_timeout,
                max_payload=lambda: runtime.nc.max_payload,
            )
            backend = _backend(client, requests, tools, settings)
            attachments = _attachments(media, client, requests, settings)
            handoffs = desk = index = None
            if settings.handoff_desk != "none":
                index = HandoffIndex(runtime.js, await runtime.js.key_value(HANDOFFS_BUCKET.name))
                desk = _desk(desk_session, settings)
                handoffs = Handoffs(
                    desk=desk,
                    index=index,
                    attachments=attachments,
                    backend=backend,
                    outbox=outbox,
                    settings=settings,
                )
                await optional.enter_async_context(
                    watching_handoffs(
                        runtime.js,
                        index,
                        idle_after=settings.handoff_idle_timeout,
                        every=settings.handoff_check_interval,
                        publish_timeout=settings.nats_publish_timeout,
                    )
                )
            yield TurnHandler(
                js=runtime.js,
                store=StateStore(kv),
                mailbox=mailbox,
                turns=TurnRunner(
                    mailbox=mailbox,
                    outbox=outbox,
                    backend=backend,
                    attachments=attachments,
                    tracer=tracer,
                    settings=settings,
                    erasure=Erasure(
                        runtime.js,
                        await runtime.js.key_value(REQUESTS_BUCKET.name),
                        backend,
                        desk=desk,
                        handoffs=index,
                    ),
                    handoffs=handoffs,
                ),
                settings=settings,
            )

    return create_worker_app(
        service=SERVICE,
        settings=settings,
        topology=Topology(
            streams=(INBOUND, OUTBOUND, DLQ),
            consumers=(consumer,),
            buckets=(CONVERSATIONS_BUCKET, REQUESTS_BUCKET, HANDOFFS_BUCKET)
            if settings.handoff_desk != "none"
            else (CONVERSATIONS_BUCKET, REQUESTS_BUCKET),
        ),
        consumer=consumer,
        concurrency=settings.max_concurrent_turns,
        handler_factory=handler,
    )
