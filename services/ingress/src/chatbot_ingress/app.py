"""The ingress ASGI app: the webhook routes served directly, the rest by FastAPI.

:func:`create_app` builds it; NATS is connected in its lifespan. The webhooks themselves are in
:mod:`.endpoints`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from chatbot_common.health import Readiness, health_router
from chatbot_common.runtime import Topology, nats_runtime
from chatbot_common.topology import EVENTS, INBOUND, OUTBOUND
from chatbot_common.tracing import NO_FASTAPI_TELEMETRY

from .answers import TEXT_TYPE
from .asgi import respond
from .config import IngressSettings
from .endpoints import Webhooks

__all__ = ["IngressApp", "create_app"]

log = logging.getLogger(__name__)


class IngressApp:
    """ingress as uvicorn runs it: the webhook routes served directly, the rest by FastAPI.

    The webhook routes read the raw form themselves, so a framework's request parsing and
    middleware would only add cost to the hottest path of the system (see bench/ingress.py).
    """

    def __init__(self, api: FastAPI, webhooks: Webhooks) -> None:
        self.api = api
        self._routes = webhooks.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.api(scope, receive, send)
        elif scope["method"] != "POST":
            await respond(send, 405, b"method not allowed: use POST\n", TEXT_TYPE)
        else:
            await endpoint(scope, receive, send)


def warn_about_trust(settings: IngressSettings) -> None:
    """Say at start-up, once, when anyone can have a webhook taken (logging is set up now)."""
    if not settings.twilio_validate_signature:
        log.warning("TWILIO_VALIDATE_SIGNATURE is off: anyone can post webhooks to this service")
    elif settings.signs_request_url:
        headers = "X-Forwarded-Proto/-Host" if settings.trust_proxy_headers else "Host"
        log.warning(
            "PUBLIC_BASE_URL is unset (PUBLIC_BASE_URL_FROM_REQUEST): webhook signatures are "
            "checked on the URL the request's %s header names, which the client chooses, so "
            "a webhook Twilio signed for another URL can be replayed here. Set PUBLIC_BASE_URL "
            "to the URL Twilio calls outside a local run.",
            headers,
        )


def create_app(settings: IngressSettings) -> IngressApp:
    """The ingress ASGI app; NATS is connected in its lifespan."""
    readiness = Readiness()
    webhooks = Webhooks(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warn_about_trust(settings)
        topology = Topology(streams=(INBOUND, OUTBOUND, EVENTS))
        async with nats_runtime(
            service="ingress", settings=settings, topology=topology, readiness=readiness
        ) as runtime:
            webhooks.start(runtime)
            readiness.serving = True
            try:
                yield
            finally:
                readiness.serving = False
                webhooks.runtime = None

    api = FastAPI(
        title="chatbot ingress",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_FASTAPI_TELEMETRY,
    )
    api.include_router(health_router(readiness))
    return IngressApp(api, webhooks)
