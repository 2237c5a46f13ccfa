"""The local stack's ports and processes: ports all different, a port that speaks something else
is not ready, and a process that dies is reported with its output.

A stack whose ports collide starts a service on the port of another process (nats-server), and
its readiness check then reads that process's greeting instead of HTTP.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from chatbot_devstack import ManagedProcess, Ports, ProcessSpec, StackError, free_port


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


async def test_a_port_that_does_not_speak_http_is_not_ready(greeter: int) -> None:
    spec = ProcessSpec(
        "service", ["sleep", "5"], {"PATH": "/usr/bin:/bin"}, f"http://127.0.0.1:{greeter}/readyz"
    )
    process = ManagedProcess(spec, lambda _, __: None)
    process.start()
    try:
        with pytest.raises(StackError, match=r"service not ready after 0\.5s"):
            await process.ready(0.5)
    finally:
        await process.stop()


async def test_a_process_that_exits_before_it_is_ready_is_reported_with_its_output() -> None:
    lines: list[tuple[str, str]] = []
    script = "echo starting; echo 'no config' >&2; exit 3"
    spec = ProcessSpec(
        "service", ["sh", "-c", script], {"PATH": "/usr/bin:/bin"}, ready_port=free_port()
    )
    process = ManagedProcess(spec, lambda name, line: lines.append((name, line)))
    process.start()
    with pytest.raises(StackError) as failed:
        await process.ready(30)
    assert str(failed.value) == "service exited with code 3:\nstarting\nno config"
    assert lines == [("service", "starting"), ("service", "no config")]
