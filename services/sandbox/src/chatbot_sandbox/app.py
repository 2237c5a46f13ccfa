"""The sandbox application factory.

One FastAPI app serves the fake Twilio API, the OpenAI-compatible responder, the inspection
endpoints and the chat page on one port. State (settings, records, the chat's transcript)
lives on `app.state`, so each `create_app` call is an independent sandbox: tests start as
many as they like in one process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatbot_sandbox import chat_api, inspect_api, openai_api, twilio_api
from chatbot_sandbox.chat_hub import ChatHub
from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.origins import OriginCheck, TrustedHostMiddleware
from chatbot_sandbox.status_callbacks import StatusReporter
from chatbot_sandbox.store import SandboxStore

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(settings: SandboxSettings) -> FastAPI:
    """Build a sandbox app with its own empty store."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.info(
            "chatbot sandbox starting: a fake Twilio REST API and a local OpenAI-compatible "
            "echo responder, not real Twilio or OpenAI; nothing is delivered",
            extra={
                "host": settings.host,
                "port": settings.port,
                "model_label": settings.model_label,
                "model_provider": settings.model_provider,
                "twilio_real": settings.twilio_real,
            },
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
    app.state.store = store = SandboxStore(settings.fault_seed, settings.openai_models)
    app.state.chat_hub = ChatHub(store)
    app.state.status_reporter = reporter = StatusReporter(
        settings.twilio_auth_token.get_secret_value(), store.twilio_status_callbacks
    )
    app.include_router(twilio_api.router)
    app.include_router(openai_api.router)
    app.include_router(inspect_api.router)
    app.include_router(chat_api.router)
    app.add_middleware(OriginCheck, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    return app
