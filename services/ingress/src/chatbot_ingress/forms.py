"""Reading a webhook: its content type, a bounded body, a deadline for all of it."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope

from .answers import EarlyAnswer
from .asgi import BodyTooLargeError, header, parse_form, read_body

__all__ = ["FORM_TYPE", "read_bounded", "read_form"]

FORM_TYPE = "application/x-www-form-urlencoded"


async def read_bounded(scope: Scope, receive: Receive, limit: int, timeout: float) -> bytes:
    """A webhook's whole body: over ``limit`` bytes is answered 413, and one that has not all
    arrived within ``timeout`` seconds, however steadily it trickles in, 408; either closes the
    connection. A client that hangs up while sending raises
    :class:`~.asgi.ClientDisconnectedError`.
    """
    try:
        async with asyncio.timeout(timeout):
            return await read_body(scope, receive, limit)
    except BodyTooLargeError:
        raise EarlyAnswer(413, "too_large", f"body over {limit} bytes", close=True) from None
    except TimeoutError:
        message = f"body not received within {timeout:g} s"
        raise EarlyAnswer(408, "request_timeout", message, close=True) from None


async def read_form(scope: Scope, receive: Receive, limit: int, timeout: float) -> dict[str, str]:
    """The form fields of a webhook, refusing other content types; the body is read as
    :func:`read_bounded` does.
    """
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise EarlyAnswer(415, "unsupported_media_type", f"expected {FORM_TYPE}", close=True)
    body = await read_bounded(scope, receive, limit, timeout)
    try:
        return parse_form(body.decode())
    except UnicodeDecodeError:
        raise EarlyAnswer(400, "bad_request", "body is not UTF-8") from None
