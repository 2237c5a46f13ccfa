"""A Chatwoot API client on the sandbox, and a bare HTTP receiver for the inbox's webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from chatbot_devstack.embedded import RunningSandbox

TOKEN = "sandbox-chatwoot-token"  # the default
SECRET = "test-chatwoot-webhook-secret"
PHONE = "+15550001111"

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]


@dataclass
class WebhookReceiver:
    """A bare HTTP/1.1 server that keeps every post (headers, raw body), answering ``status``."""

    url: str = ""
    status: int = 200
    posts: asyncio.Queue[tuple[dict[str, str], bytes]] = field(default_factory=asyncio.Queue)

    async def next_events(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` bodies, each checked to be signed with SECRET (10 s at most)."""
        async with asyncio.timeout(10):
            posts = [await self.posts.get() for _ in range(count)]
        for headers, body in posts:
            signed = headers["x-chatwoot-timestamp"].encode() + b"." + body
            digest = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
            assert headers["x-chatwoot-signature"] == f"sha256={digest}"
            assert headers["content-type"] == "application/json"
        return [json.loads(body) for _, body in posts]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.posts.put_nowait((headers, body))
                writer.write(f"HTTP/1.1 {self.status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    receiver.url = f"http://{host}:{port}/chatwoot/webhook"
    try:
        yield receiver
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):
                await server.wait_closed()


@pytest.fixture
async def hooked(
    start_sandbox: SandboxFactory, receiver: WebhookReceiver
) -> AsyncIterator[RunningSandbox]:
    """A sandbox whose inbox posts its webhooks to ``receiver``."""
    settings = {"chatwoot_webhook_url": receiver.url, "chatwoot_webhook_secret": SECRET}
    async with start_sandbox(**settings) as running:
        yield running


def _api_client(sandbox: RunningSandbox) -> httpx.AsyncClient:
    base_url = f"{sandbox.base_url}/api/v1/accounts/1"
    return httpx.AsyncClient(base_url=base_url, headers={"api_access_token": TOKEN}, timeout=5)


@pytest.fixture
async def api(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with _api_client(sandbox) as client:
        yield client


@pytest.fixture
async def hooked_api(hooked: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with _api_client(hooked) as client:
        yield client


Opener = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def open_conversation() -> Opener:
    """``await open_conversation(api, phone)``: a new contact (``phone`` its source id too) and
    a conversation of it."""
    return _open_conversation


async def _open_conversation(api: httpx.AsyncClient, phone: str = PHONE) -> dict[str, Any]:
    created = await api.post(
        "/contacts", json={"name": "Ann", "phone_number": phone, "inbox_id": 1, "source_id": phone}
    )
    assert created.status_code == 200, created.text
    contact_id = created.json()["payload"]["contact"]["id"]
    body = {"source_id": phone, "inbox_id": 1, "contact_id": contact_id}
    conversation = await api.post("/conversations", json=body)
    assert conversation.status_code == 200, conversation.text
    result: dict[str, Any] = conversation.json()
    return result
