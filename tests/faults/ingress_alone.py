"""ingress on its own: a nats-server and one ingress process on loopback, for webhook abuse."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chatbot_devstack import (
    AUTH_TOKEN,
    ManagedProcess,
    ProcessSpec,
    Sink,
    find_executable,
    free_port,
    nats_server_spec,
)

__all__ = ["RunningIngress", "ingress_alone"]


@dataclass(frozen=True)
class RunningIngress:
    url: str
    port: int
    nats_url: str


@contextmanager
def ingress_alone(directory: Path, sink: Sink, **environment: str) -> Iterator[RunningIngress]:
    """Start nats-server and ingress (signatures checked for its own URL), stop both after.

    For module-scoped fixtures, which run outside the tests' event loops.
    """
    nats_port, port = free_port(), free_port()
    running = RunningIngress(f"http://127.0.0.1:{port}", port, f"nats://127.0.0.1:{nats_port}")
    server = ManagedProcess(nats_server_spec(nats_port, directory / "jetstream"), sink)
    env = {
        "NATS_URL": running.nats_url,
        "USER_KEY_SECRET": "ingress-alone-secret",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": running.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PATH": "/usr/bin:/bin",
        **environment,
    }
    ready = f"{running.url}/readyz"
    process = ManagedProcess(
        ProcessSpec("ingress", [find_executable("chatbot-ingress")], env, ready_url=ready), sink
    )
    try:
        server.start()
        asyncio.run(server.ready(10))
        process.start()
        asyncio.run(process.ready(30))
        yield running
    finally:
        asyncio.run(process.stop())
        asyncio.run(server.stop())
