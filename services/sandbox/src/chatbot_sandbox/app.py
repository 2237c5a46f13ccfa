"""The sandbox app: the fake OpenAI, the fake Twilio, the chat page and the inspection API.

State lives on ``app.state``, so each ``create_app`` is an independent sandbox.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatbot_sandbox import inspection
from chatbot_sandbox.chat import api as chat_api
from chatbot_sandbox.chat.hub import ChatHub
from chatbot_sandbox.openai import api as openai_api
from chatbot_sandbox.origins import OriginCheck, TrustedHostMiddleware
from chatbot_sandbox.process import SandboxSettings, SandboxStore
from chatbot_sandbox.twilio import api as twilio_api
from chatbot_sandbox.twilio import media as twilio_media
from chatbot_sandbox.twilio.callbacks import StatusReporter

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


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

    app = FastAPI(
        title="chatbot sandbox",
        description="Local stand-ins for Twilio's REST API and OpenAI's API (dev and tests).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store = SandboxStore(settings)
    app.state.chat_hub = ChatHub(store)
    app.state.status_reporter = reporter = StatusReporter(
        settings.twilio_auth_token.get_secret_value(), store.twilio_status_callbacks
    )
    for router in (
        twilio_api.router,
        twilio_media.router,
        openai_api.router,
        inspection.router,
        chat_api.router,
    ):
        app.include_router(router)
    app.add_middleware(OriginCheck, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    return app
