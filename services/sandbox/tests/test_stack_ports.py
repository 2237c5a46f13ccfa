"""The local stack's ports: all different, and a port that speaks something else is not ready.

A stack whose ports collide starts a service on the port of another process (nats-server), and
its readiness check then reads that process's greeting instead of HTTP.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from chatbot_sandbox.stack import ManagedProcess, Ports, ProcessSpec


def test_free_ports_are_all_different() -> None:
    for _ in range(20):
        ports = [port for _, port in Ports.free().items()]
        assert len(set(ports)) == len(ports)


@pytest.fixture
def greeter() -> Iterator[int]:
    """A TCP server that greets like nats-server (not HTTP) and hangs up."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with closing(connection):
                connection.sendall(b'INFO {"server_id":"x"}\r\n')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_a_port_that_does_not_speak_http_is_not_ready(greeter: int) -> None:
    spec = ProcessSpec("service", ["true"], ready_url=f"http://127.0.0.1:{greeter}/readyz")
    assert ManagedProcess(spec, lambda _, __: None)._is_ready() is False
