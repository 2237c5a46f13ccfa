"""Fixtures: the console in this process, on a real NATS, reading a user the conversation
service would have written, with the sandbox as OpenAI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from chatbot_common.topology import (
    CONVERSATIONS_BUCKET,
    DELIVERIES_BUCKET,
    DLQ,
    INBOUND,
    OUTBOUND,
    provision,
)
from chatbot_common.userkey import user_key
from chatbot_console.app import create_app
from chatbot_console.config import ConsoleSettings
from chatbot_devstack import BUSINESS_NUMBER, USER
from chatbot_devstack.embedded import RunningSandbox, running_sandbox

TOKEN = "console-test-token-of-at-least-32-characters"
SECRET = "test-user-key-secret"
KEY = user_key(SECRET, BUSINESS_NUMBER, USER)
"""The test user's key, with the business number."""


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox() as running:
        yield running


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    """JetStream with what the services would have provisioned before the console reads it."""
    js = nc.jetstream()
    await provision(
        js,
        streams=(INBOUND, OUTBOUND, DLQ),
        buckets=(CONVERSATIONS_BUCKET, DELIVERIES_BUCKET),
        duplicate_window=120,
    )
    return js


@asynccontextmanager
async def serving(
    settings: ConsoleSettings, *, peer: tuple[str, int] = ("127.0.0.1", 123)
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console; ``peer`` is the address its requests come from."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app, client=peer), base_url="https://console.internal"
        ) as client,
    ):
        yield client


@asynccontextmanager
async def operating(nats_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The console on this NATS with the test secrets and ``settings``, and a client that sends
    the test token as a bearer token."""
    test = {
        "nats_url": nats_url,
        "user_key_secret": SECRET,
        "console_token": TOKEN,
        "twilio_whatsapp_from": BUSINESS_NUMBER,
    }
    async with serving(ConsoleSettings(**test, **settings)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


@pytest.fixture
async def console(
    nats_server: Any, sandbox: RunningSandbox, js: JetStreamContext
) -> AsyncIterator[httpx.AsyncClient]:
    """The console with the test token, reading transcripts from the sandbox's OpenAI."""
    async with operating(
        nats_server.url,
        openai_api_key="sandbox",
        openai_base_url=sandbox.openai_base_url,
        openai_model="gpt-5-mini",
        openai_transcription_model="gpt-withdrawn",
    ) as client:
        client.headers["X-Operator"] = "Olga"
        yield client
