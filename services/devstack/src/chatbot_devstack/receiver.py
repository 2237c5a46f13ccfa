"""A bare HTTP/1.1 server that keeps the forms posted to it: a stand-in for ingress in tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

__all__ = ["FormReceiver", "receiving"]


@dataclass
class FormReceiver:
    """A bare HTTP/1.1 server that keeps every form posted to it (a stand-in for ingress).

    :meth:`answer` decides each status; subclasses check signatures or refuse on purpose.
    """

    url: str = ""
    posts: asyncio.Queue[tuple[str, dict[str, str], dict[str, str]]] = field(
        default_factory=asyncio.Queue
    )

    def answer(self, path: str, headers: dict[str, str], form: dict[str, str]) -> int:
        """The status for one post (200 unless a subclass says otherwise)."""
        return 200

    async def next_posts(self, count: int) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        """The next ``count`` posts as (path, headers, form), waiting up to 10 s."""
        async with asyncio.timeout(10):
            return [await self.posts.get() for _ in range(count)]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():
                path = request_line.decode().split(" ")[1]
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                form = dict(parse_qsl(body.decode(), keep_blank_values=True))
                status = self.answer(path, headers, form)
                self.posts.put_nowait((path, headers, form))
                reply = b"<Response/>" if status == 200 else b""
                head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(reply)}\r\n\r\n"
                writer.write(head.encode() + reply)
                await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def receiving(receiver: FormReceiver) -> AsyncIterator[FormReceiver]:
    """Serve ``receiver`` on a free loopback port (its ``url``) until the block exits."""
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    receiver.url = f"http://{host}:{port}"
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()
