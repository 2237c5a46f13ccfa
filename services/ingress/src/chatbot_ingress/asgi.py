"""Just enough raw ASGI for the webhook routes: read a bounded body, answer with bytes.

The webhook routes are the hottest path of the system and need none of a framework's request
parsing, so they are served below FastAPI; everything else (health, metrics, lifespan) stays a
FastAPI app.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import Receive, Scope, Send

__all__ = [
    "BodyTooLargeError",
    "ClientDisconnectedError",
    "header",
    "parse_form",
    "read_body",
    "respond",
]


class BodyTooLargeError(Exception):
    """The request body is over the limit (found before reading it all)."""


class ClientDisconnectedError(Exception):
    """The client closed the connection before it had sent the whole body.

    Anyone can do that at will, so it is an outcome to count, not an error to log.
    """


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
            raise ClientDisconnectedError
        body += bytes(message.get("body", b""))
        if len(body) > limit:
            raise BodyTooLargeError
        if not message.get("more_body", False):
            return body


def _unescape(text: str) -> str:
    if "%" not in text:
        return text.replace("+", " ")
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8", "replace")


def parse_form(body: str) -> dict[str, str]:
    """The fields of a form body, as ``dict(parse_qsl(body, keep_blank_values=True))``.

    The same result at less than half the cost: parse_qsl's per-field argument handling was
    the largest single item of a webhook's own CPU (bench/ingress.py). A repeated field keeps
    its last value, as the dict of parse_qsl's pairs does.
    """
    form: dict[str, str] = {}
    for field in body.split("&"):
        if field:
            name, _, value = field.partition("=")
            form[_unescape(name)] = _unescape(value)
    return form


async def respond(
    send: Send, status: int, body: bytes, content_type: bytes, *, close: bool = False
) -> None:
    """Answer with ``body``; ``close`` ends the connection after it (``Connection: close``).

    Close whenever the answer comes before the request body was read to its end: uvicorn would
    otherwise keep the connection for a next request and discard the rest of this body for as
    long as the client keeps sending it (every byte received cancels its keep-alive timeout).
    """
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
