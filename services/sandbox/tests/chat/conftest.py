"""A stand-in for ingress that checks webhook signatures, and a sandbox whose chat posts to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from chatbot_devstack.embedded import RunningSandbox
from chatbot_devstack.receiver import FormReceiver, receiving
from chatbot_sandbox.chat.wire import EVENTS_PATH, read_events

PUBLIC_BASE_URL = "https://chatbot.example.test"
"""What ingress checks signatures against; deliberately not where the webhook is posted."""

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]


@dataclass
class FakeIngress(FormReceiver):
    """Checks webhook signatures as ingress does, and answers a chosen status."""

    status: int = 200
    auth_token: str = ""

    def answer(self, path: str, headers: dict[str, str], form: dict[str, str]) -> int:
        if path != "/twilio/messages":
            return 200
        signature = headers.get("x-twilio-signature", "")
        valid = RequestValidator(self.auth_token).validate(PUBLIC_BASE_URL + path, form, signature)
        return self.status if valid else 403

    async def next_webhook(self) -> dict[str, str]:
        """The form of the next webhook posted to /twilio/messages."""
        async with asyncio.timeout(10):
            while True:
                path, _, form = await self.posts.get()
                if path == "/twilio/messages":
                    return form


@pytest.fixture
async def ingress() -> AsyncIterator[FakeIngress]:
    async with receiving(FakeIngress()) as running:
        yield running


@pytest.fixture
async def chat_sandbox(
    start_sandbox: SandboxFactory, ingress: FakeIngress
) -> AsyncIterator[RunningSandbox]:
    async with start_sandbox(ingress_url=ingress.url, public_base_url=PUBLIC_BASE_URL) as sandbox:
        ingress.auth_token = sandbox.settings.twilio_auth_token.get_secret_value()
        yield sandbox


@pytest.fixture
async def http(chat_sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=chat_sandbox.base_url, timeout=10.0) as client:
        yield client


class EventStream:
    """The chat's event stream, read one event at a time with a timeout."""

    def __init__(self, events: AsyncIterator[tuple[str, Any]]) -> None:
        self._events = events

    async def next(self, name: str | None = None) -> dict[str, Any]:
        """The next event (of kind ``name``, skipping others), its kind as ``event``."""
        async with asyncio.timeout(10):
            async for event, data in self._events:
                if name is None or event == name:
                    return {"event": event, **data}
        raise AssertionError("the stream ended")


Streams = Callable[[str | None], AbstractAsyncContextManager[EventStream]]


@pytest.fixture
def stream(http: httpx.AsyncClient) -> Streams:
    """Open the event stream of one user (or everyone's): ``async with stream(user) as s:``."""

    @asynccontextmanager
    async def open_stream(user: str | None) -> AsyncIterator[EventStream]:
        params = {"user": user} if user else {}
        async with http.stream("GET", EVENTS_PATH, params=params) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            yield EventStream(read_events(answer.aiter_lines()))

    return open_stream


@pytest.fixture
def transcript(stream: Streams) -> Callable[[str], Any]:
    """A user's transcript, as a new stream's snapshot shows it: ``await transcript(user)``."""

    async def read(user: str) -> list[dict[str, Any]]:
        async with stream(user) as events:
            snapshot = await events.next("snapshot")
        messages: list[dict[str, Any]] = snapshot["messages"]
        return messages

    return read
