"""Reading a webhook's form: its content type, a bounded body, a deadline for all of it."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope

from .answers import EarlyAnswer
from .asgi import BodyTooLargeError, header, parse_form, read_body

__all__ = ["FORM_TYPE", "read_form"]

FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(scope: Scope, receive: Receive, limit: int, timeout: float) -> dict[str, str]:
    """The form fields of a webhook, refusing other content types and oversized bodies.

    The whole body must arrive within ``timeout`` seconds, however steadily it trickles in:
    a slower client is answered 408 and its connection closed. A client that hangs up while
    sending raises :class:`~.asgi.ClientDisconnectedError`.
    """
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise EarlyAnswer(415, "unsupported_media_type", f"expected {FORM_TYPE}", close=True)
    try:
        async with asyncio.timeout(timeout):
            body = await read_body(scope, receive, limit)
        return parse_form(body.decode())
    except BodyTooLargeError:
        raise EarlyAnswer(413, "too_large", f"body over {limit} bytes", close=True) from None
    except TimeoutError:
        message = f"body not received within {timeout:g} s"
        raise EarlyAnswer(408, "request_timeout", message, close=True) from None
    except UnicodeDecodeError:
        raise EarlyAnswer(400, "bad_request", "body is not UTF-8") from None
