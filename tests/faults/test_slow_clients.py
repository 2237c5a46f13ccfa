"""Hang-ups and slow clients at a running ingress, over real sockets on loopback.

One ``chatbot-ingress`` (and its own nats-server) serves the module, with a short
BODY_READ_TIMEOUT. What must hold, and why the header phase is not bounded here:
docs/reliability.md, "A client hangs up mid-body, or sends its request slowly".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chatbot_devstack import LocalStack, StackDriver, inbound_form, poll, signed, started_stack

pytestmark = pytest.mark.e2e

MESSAGES = "/twilio/messages"
BODY_READ_TIMEOUT = 1.0
"""What the module's ingress allows for a whole body: short, so the tests are quick."""
CUT_OFF_WITHIN = BODY_READ_TIMEOUT + 2.0
"""When a trickling client must have been answered and cut off (the bound, plus a margin for
a busy machine)."""
TRICKLE_FOR = 10.0
"""How long a trickling client keeps going at most: well past the bound."""
HANG_UPS = 5


@dataclass
class Ingress:
    """A running ingress and every line it logged so far."""

    stack: LocalStack
    url: str
    port: int
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def logged(self) -> list[str]:
        with self.lock:
            return list(self.lines)


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    directory: Path = tmp_path_factory.mktemp("slow-clients")
    lines: list[str] = []
    lock = threading.Lock()

    def sink(name: str, line: str) -> None:
        if name == "ingress":
            with lock:
                lines.append(line)

    environment = {"PATH": "/usr/bin:/bin", "BODY_READ_TIMEOUT": str(BODY_READ_TIMEOUT)}
    with started_stack(
        run_dir=directory, environment=environment, sink=sink, parts=("nats", "ingress")
    ) as stack:
        yield Ingress(stack, stack.url("ingress"), stack.ports.ingress, lines, lock)


async def counted(http: httpx.AsyncClient, ingress: Ingress, outcome: str) -> float:
    """``chatbot_webhook_requests_total`` of /twilio/messages with ``outcome`` (0 when none)."""
    driver = StackDriver(ingress.stack, http)
    labels = {"route": MESSAGES, "outcome": outcome}
    return await driver.metric("ingress", "chatbot_webhook_requests_total", **labels)


def errors(lines: list[str]) -> list[str]:
    """The lines at ERROR or above, and any traceback, of what ingress logged."""
    found = []
    for line in lines:
        try:
            level = json.loads(line).get("level", "")
        except ValueError:
            level = ""  # not a JSON line: a traceback, or a print
        if level in ("ERROR", "CRITICAL") or "Traceback" in line:
            found.append(line)
    return found


def head(ingress: Ingress, *, length: int | None, chunked: bool = False) -> bytes:
    """The request line and headers of a webhook whose body follows (or never does)."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    return (
        f"POST {MESSAGES} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{ingress.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


async def connect(ingress: Ingress) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", ingress.port)


@pytest.mark.parametrize(
    ("framing", "close"),
    [("content-length", "fin"), ("content-length", "reset"), ("chunked", "fin")],
)
async def test_a_client_that_hangs_up_mid_body_is_counted_and_logs_no_error(
    ingress: Ingress, http: httpx.AsyncClient, framing: str, close: str
) -> None:
    body = b"MessageSid=SM" + b"a" * 300
    before = await counted(http, ingress, "client_disconnected")
    logged_before = len(ingress.logged())
    for _ in range(HANG_UPS):
        _, writer = await connect(ingress)
        if framing == "chunked":
            half = body[: len(body) // 2]
            writer.write(head(ingress, length=None, chunked=True))
            writer.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
        else:
            writer.write(head(ingress, length=len(body)) + body[: len(body) // 2])
        await writer.drain()
        await asyncio.sleep(0.05)  # the body has started: ingress is reading it
        if close == "reset":  # RST instead of FIN, as a crashed client or a middlebox does
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def all_counted() -> bool:
        return await counted(http, ingress, "client_disconnected") >= before + HANG_UPS

    try:
        await poll(all_counted, every=0.05, timeout=10)
    except TimeoutError:
        got = await counted(http, ingress, "client_disconnected")
        raise AssertionError(f"client_disconnected went {before:g} -> {got:g}") from None
    assert await counted(http, ingress, "client_disconnected") == before + HANG_UPS
    await asyncio.sleep(0.2)  # anything ingress would log about it is out by now
    assert errors(ingress.logged()[logged_before:]) == []


async def test_a_client_that_trickles_its_body_is_answered_408_and_cut_off(
    ingress: Ingress, http: httpx.AsyncClient
) -> None:
    before = await counted(http, ingress, "request_timeout")
    reader, writer = await connect(ingress)
    started = time.monotonic()
    writer.write(head(ingress, length=1000))
    await writer.drain()
    answer = asyncio.create_task(reader.read())  # all the server sends, until it closes
    try:
        # One byte every 0.2 s: never idle long, but never done (1000 bytes would take 200 s).
        while not answer.done() and time.monotonic() - started < TRICKLE_FOR:
            try:
                writer.write(b"a")
                await writer.drain()
            except ConnectionError:
                break  # the server closed the connection
            await asyncio.wait({answer}, timeout=0.2)
        assert answer.done(), f"still open after {TRICKLE_FOR:g} s of trickling"
        closed_after = time.monotonic() - started
        received = await answer
    finally:
        answer.cancel()
        writer.close()
    assert closed_after < CUT_OFF_WITHIN, f"closed after {closed_after:.1f} s"
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert await counted(http, ingress, "request_timeout") == before + 1


async def test_a_body_in_pieces_within_the_bound_is_taken(
    ingress: Ingress, http: httpx.AsyncClient
) -> None:
    url = f"{ingress.url}{MESSAGES}"
    form = inbound_form("sent in three pieces")
    body = str(httpx.QueryParams(form)).encode()
    headers = "".join(f"{name}: {value}\r\n" for name, value in signed(url, form).items())
    reader, writer = await connect(ingress)
    try:
        writer.write(head(ingress, length=len(body))[:-2] + headers.encode() + b"\r\n")
        third = len(body) // 3
        for piece in (body[:third], body[third : 2 * third], body[2 * third :]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(BODY_READ_TIMEOUT / 5)
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 200 "), status_line
