"""The load generator is open loop: a slow server never delays a send."""

from __future__ import annotations

import asyncio

from bench.loadgen import OpenLoop, http_post

DELAY = 0.2


async def _slow_server(handlers: set[asyncio.Task[None]]) -> tuple[asyncio.Server, int]:
    """Answers each request on a connection DELAY seconds after it arrives (keep-alive)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)  # the body of every test request: "hi"
                await asyncio.sleep(DELAY)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok!")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the generator closes its connections when the run ends
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_http_post_is_a_complete_request() -> None:
    request = http_post("h:1", "/p", {"X-A": "b"}, b"hi")
    assert request == b"POST /p HTTP/1.1\r\nHost: h:1\r\nX-A: b\r\nContent-Length: 2\r\n\r\nhi"


async def test_sends_on_schedule_whatever_the_answers_do() -> None:
    handlers: set[asyncio.Task[None]] = set()
    server, port = await _slow_server(handlers)
    scheduled = [i * 0.01 for i in range(20)]  # 20 requests in 0.2 s, each answered after 0.2 s
    async with server:
        request = http_post(f"127.0.0.1:{port}", "/", {}, b"hi")
        run = await OpenLoop("127.0.0.1", port).run([request] * 20, scheduled, warm=2)
        await asyncio.gather(*handlers)
    assert run.statuses() == {200: 20}
    # A new connection for each request the busy ones could not take: not one waited.
    assert run.connections >= 19
    # A closed loop of 2 connections would be 1.8 s late; the margin is for a busy machine
    # (how late a send may be is make bench's business, not a test's).
    assert max(run.lags()) < 1.0
    assert all(DELAY <= latency < DELAY + 1.0 for latency in run.latencies())
    assert run.acknowledged() == list(range(20))
