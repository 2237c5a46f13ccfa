"""The sandbox app: the fakes, the chat page and the inspection API, its state on ``app.state``
(``deps``); only loopback pages may drive it (it signs webhooks, may reach real WhatsApp).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from chatbot_sandbox import inspection
from chatbot_sandbox.chat import api as chat_api
from chatbot_sandbox.chat.hub import ChatHub
from chatbot_sandbox.chatwoot import agent as chatwoot_agent
from chatbot_sandbox.chatwoot import api as chatwoot_api
from chatbot_sandbox.chatwoot.webhooks import WebhookSender
from chatbot_sandbox.openai import api as openai_api
from chatbot_sandbox.process import SandboxSettings, SandboxStore
from chatbot_sandbox.tools import api as tools_api
from chatbot_sandbox.twilio import api as twilio_api
from chatbot_sandbox.twilio.callbacks import StatusReporter

__all__ = ["ALLOWED_HOSTS", "create_app"]

logger = logging.getLogger(__name__)

ALLOWED_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""The host names the sandbox answers (any port): loopback only, against DNS rebinding."""
_SAFE = ("GET", "HEAD", "OPTIONS")


def create_app(settings: SandboxSettings) -> FastAPI:
    """Build a sandbox app with its own empty store."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.info(
            "chatbot sandbox starting: a fake Twilio REST API and a local OpenAI-compatible "
            "echo responder, not real Twilio or OpenAI; nothing is delivered",
            extra={"host": settings.host, "port": settings.port},
        )
        try:
            yield
        finally:
            await reporter.stop()
            await webhooks.stop()

    app = FastAPI(title="chatbot sandbox", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store = SandboxStore(settings)
    app.state.chat_hub = ChatHub(store)
    app.state.status_reporter = reporter = StatusReporter(
        settings.twilio_auth_token.get_secret_value(), store.twilio_status_callbacks
    )
    app.state.chatwoot_webhooks = webhooks = WebhookSender(settings, store.chatwoot_webhooks)
    fakes = (twilio_api, openai_api, tools_api, chatwoot_api, chatwoot_agent)
    for router in (module.router for module in (*fakes, inspection, chat_api)):
        app.include_router(router)
    app.exception_handler(twilio_api.TwilioError)(twilio_api.answer_error)
    app.add_middleware(OriginCheck)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(ALLOWED_HOSTS))
    return app


class OriginCheck:
    """Refuses (403) a change whose ``Origin`` is not an allowed host: a cross-site form or
    fetch. (TrustedHostMiddleware refuses another Host: DNS rebinding.)"""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._allowed = frozenset(host.strip("[]") for host in ALLOWED_HOSTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = dict(scope.get("headers", ())).get(b"origin")
        if scope["type"] == "http" and scope["method"] not in _SAFE and origin is not None:
            parts = urlsplit(origin.decode("latin-1"))
            if parts.scheme not in ("http", "https") or parts.hostname not in self._allowed:
                answer = PlainTextResponse("cross-origin requests are refused\n", status_code=403)
                await answer(scope, receive, send)
                return
        await self._app(scope, receive, send)
