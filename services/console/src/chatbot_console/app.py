"""The console app: the API, the page, health and metrics; NATS is connected in its lifespan.

:func:`create_app` wires the parts once per process (docs/console.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from openai import AsyncOpenAI
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from chatbot_common.health import Readiness, health_router
from chatbot_common.ratelimit import TokenBucket
from chatbot_common.runtime import Topology, nats_runtime
from chatbot_common.topology import (
    AUDIT,
    CONVERSATIONS_BUCKET,
    DELIVERIES_BUCKET,
    DLQ,
    EVENTS,
    INBOUND,
    OUTBOUND,
    REQUESTS_BUCKET,
)
from chatbot_common.tracing import NO_FASTAPI_TELEMETRY

from . import api, page
from .actions import Actions
from .auth import Gate
from .config import ConsoleSettings
from .deps import Console
from .erasure import Eraser
from .export import Exporter
from .outreach import Outreach
from .overview import Overviews
from .templates import opened_templates
from .users import Users

__all__ = ["SESSION_HOURS", "create_app"]

SESSION_HOURS = 8
"""How long a login lasts (the cookie's max age)."""


def _session_key(token: str) -> str:
    """The session cookie's signing key, derived from the token: a new token ends every
    session."""
    return hmac.new(token.encode(), b"chatbot-console-session", hashlib.sha256).hexdigest()


def create_app(settings: ConsoleSettings) -> FastAPI:
    """The console ASGI app."""
    readiness = Readiness()
    token = settings.console_token.get_secret_value()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topology = Topology(
            streams=(INBOUND, OUTBOUND, EVENTS, DLQ, AUDIT),
            buckets=(CONVERSATIONS_BUCKET, DELIVERIES_BUCKET, REQUESTS_BUCKET),
        )
        async with (
            nats_runtime(
                service="console", settings=settings, topology=topology, readiness=readiness
            ) as runtime,
            opened_templates(settings) as templates,
        ):
            openai = (
                AsyncOpenAI(
                    api_key=settings.openai_api_key.get_secret_value(),
                    base_url=settings.openai_base_url,
                )
                if settings.openai_api_key is not None
                else None
            )
            users = Users(
                runtime.js,
                await runtime.js.key_value(CONVERSATIONS_BUCKET.name),
                secret=settings.user_key_secret.get_secret_value(),
                business_numbers=settings.business_numbers,
                openai=openai,
            )
            deliveries = await runtime.js.key_value(DELIVERIES_BUCKET.name)
            requests = await runtime.js.key_value(REQUESTS_BUCKET.name)
            actions = Actions(runtime.js, timeout=settings.nats_publish_timeout)
            app.state.console = Console(
                gate=Gate(token, attempts=settings.console_login_attempts),
                users=users,
                actions=actions,
                exporter=Exporter(runtime.js, deliveries, users),
                eraser=Eraser(
                    runtime.nc,
                    requests,
                    actions,
                    wait=settings.console_erase_wait,
                    timeout=settings.nats_publish_timeout,
                ),
                overviews=Overviews(runtime.js, openai, settings.models),
                outreach=Outreach(
                    runtime.js,
                    users,
                    requests,
                    actions,
                    TokenBucket(settings.outreach_rate_per_second, settings.outreach_rate_burst),
                    templates,
                    default_from=settings.twilio_whatsapp_from,
                    business_numbers=settings.business_numbers,
                    timeout=settings.nats_publish_timeout,
                ),
                js=runtime.js,
            )
            readiness.serving = True
            try:
                yield
            finally:
                readiness.serving = False
                if openai is not None:
                    await openai.close()

    app = FastAPI(
        title="chatbot console",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=NO_FASTAPI_TELEMETRY,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_key(token),
        session_cookie="chatbot_console",
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        https_only=settings.console_secure_cookies,
    )
    if settings.console_trusted_proxies:
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=list(settings.console_trusted_proxies)
        )
    app.include_router(health_router(readiness))
    app.include_router(api.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    return app
