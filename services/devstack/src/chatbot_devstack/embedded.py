"""The sandbox inside the caller's event loop, on a free loopback port, for the services' tests.

It is a real uvicorn server, so the SDKs' HTTP stacks are exercised; start-up is awaited on an
event, and the caller's loop keeps its signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass

import uvicorn
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from chatbot_sandbox.app import create_app
from chatbot_sandbox.process import SandboxSettings, SandboxStore

__all__ = ["RunningSandbox", "running_sandbox", "twilio_client"]


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A started sandbox: where it listens and what it has recorded."""

    settings: SandboxSettings
    store: SandboxStore
    base_url: str

    @property
    def twilio_base_url(self) -> str:
        """What to assign to the twilio SDK's `client.api.base_url`."""
        return self.base_url

    @property
    def openai_base_url(self) -> str:
        """What to pass as `base_url` to `openai.AsyncOpenAI`."""
        return f"{self.base_url}/v1"


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that reports start-up on an event and leaves signals alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self._exit = asyncio.Event()

    def stop(self) -> None:
        """Ask the server to shut down now, without waiting for its next 0.1 s tick."""
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        # uvicorn ticks every 0.1 s to notice `should_exit`; waking on an event instead makes
        # each test's teardown faster. The tick still runs once a second for the Date header.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), timeout=1.0)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


@contextlib.asynccontextmanager
async def running_sandbox(
    settings: SandboxSettings | None = None, *, startup_timeout: float = 10.0
) -> AsyncIterator[RunningSandbox]:
    """Serve a fresh sandbox until the block exits (default: loopback, a free port)."""
    if settings is None:
        settings = SandboxSettings(host="127.0.0.1", port=0)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, ws="none", lifespan="on"
    )
    server = _EmbeddedServer(config)
    serving = asyncio.create_task(server.serve(), name="sandbox-server")
    ready = asyncio.create_task(server.ready.wait(), name="sandbox-ready")
    try:
        done, _ = await asyncio.wait(
            {serving, ready}, timeout=startup_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            if serving in done:
                serving.result()  # re-raise why it stopped
            raise RuntimeError("the sandbox server did not start")
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        store = app.state.store
        if not isinstance(store, SandboxStore):
            raise RuntimeError("the sandbox app has no store")
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        yield RunningSandbox(settings=settings, store=store, base_url=f"http://{authority}")
    finally:
        ready.cancel()
        server.stop()
        await serving


@contextlib.asynccontextmanager
async def twilio_client(
    sandbox: RunningSandbox, *, sid: str | None = None, token: str | None = None
) -> AsyncIterator[Client]:
    """A real twilio Client whose API calls (all three of Twilio's hosts) go to ``sandbox``."""
    settings = sandbox.settings
    http_client = AsyncTwilioHttpClient()
    client = Client(
        sid or settings.twilio_account_sid,
        token or settings.twilio_auth_token.get_secret_value(),
        http_client=http_client,
    )
    client.api.base_url = sandbox.twilio_base_url
    client.messaging.base_url = sandbox.twilio_base_url
    client.content.base_url = sandbox.twilio_base_url
    try:
        yield client
    finally:
        await http_client.close()
