"""Just enough raw ASGI for the webhook routes: read a bounded body, answer with bytes.

The webhook routes are the hottest path of the system and need none of a framework's request
parsing, so they are served below FastAPI; everything else (health, metrics, lifespan) stays a
FastAPI app.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

__all__ = ["BodyTooLargeError", "header", "read_body", "respond"]


class BodyTooLargeError(Exception):
    """The request body is over the limit (found before reading it all)."""


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` in lower case), decoded as Latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes as soon as that is known."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away")
        body += bytes(message.get("body", b""))
        if len(body) > limit:
            raise BodyTooLargeError
        if not message.get("more_body", False):
            return body


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
