"""Only loopback pages may drive the sandbox: its Host and, on changes, the Origin are checked.

The sandbox signs webhooks with the Twilio auth token and shows transcripts, and with real
Twilio (`make run`, mode 3) its chat page reaches real numbers. A page on another site could
reach it through DNS rebinding (a Host of its own) or a cross-site form or fetch (an Origin of
its own); both are refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["OriginCheck", "TrustedHostMiddleware"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginCheck:
    """Refuses (403) a state-changing request whose ``Origin`` is not an allowed host."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: tuple[str, ...]) -> None:
        self._app = app
        self._allowed = frozenset(host.strip("[]") for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            origin = dict(scope["headers"]).get(b"origin")
            if origin is not None and not self._allowed_origin(origin.decode("latin-1")):
                answer = PlainTextResponse("cross-origin requests are refused\n", status_code=403)
                await answer(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _allowed_origin(self, origin: str) -> bool:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in self._allowed
