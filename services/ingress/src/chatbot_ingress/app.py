"""The ingress app: Twilio webhooks in, JetStream out.

A webhook is answered 200 (empty TwiML) only after JetStream acknowledged the message, so
Twilio never believes a message was taken that could still be lost. When NATS is down or slow
the answer is 503 and Twilio retries or uses the fallback URL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from nats.errors import Error as NatsError
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from chatbot_common.bus import publish
from chatbot_common.contracts import Contract, utcnow
from chatbot_common.health import Readiness, health_router
from chatbot_common.runtime import NatsRuntime, Topology, nats_runtime
from chatbot_common.topology import EVENTS, INBOUND, Stream
from chatbot_common.userkey import user_key

from .config import IngressSettings
from .metrics import DUPLICATES, PUBLISH_SECONDS, REQUEST_SECONDS, REQUESTS
from .signature import SignatureChecker
from .webhooks import WebhookFieldError, parse_inbound, parse_status

__all__ = ["create_app"]

log = logging.getLogger(__name__)
tracer = trace.get_tracer("chatbot.ingress")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
FORM_TYPE = "application/x-www-form-urlencoded"


class Rejected(Exception):
    """A webhook answered with an error status; nothing was published."""

    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


async def _read_form(request: Request, limit: int) -> dict[str, str]:
    """The form fields of a webhook, refusing other content types and oversized bodies."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise Rejected(415, "unsupported_media_type", f"expected {FORM_TYPE}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Rejected(413, "too_large", f"body over {limit} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Rejected(400, "bad_request", "body is not UTF-8") from None
    return dict(pairs)


class Webhooks:
    """The two webhook endpoints: the same checks, then one durable publish."""

    def __init__(self, settings: IngressSettings) -> None:
        self._settings = settings
        self._secret = settings.user_key_secret.get_secret_value()
        self._checker = (
            SignatureChecker(
                settings.twilio_auth_token.get_secret_value(),
                public_base_url=settings.public_base_url,
                trust_proxy_headers=settings.trust_proxy_headers,
            )
            if settings.twilio_validate_signature and settings.twilio_auth_token is not None
            else None
        )
        self.runtime: NatsRuntime | None = None

    def _inbound(self, form: dict[str, str]) -> tuple[Stream, str, Contract, str]:
        message = parse_inbound(form, received_at=utcnow())
        key = user_key(self._secret, message.to, message.from_)
        return INBOUND, INBOUND.subject(key), message, message.message_sid

    def _status(self, form: dict[str, str]) -> tuple[Stream, str, Contract, str]:
        status = parse_status(form, received_at=utcnow())
        # A status is about a message we sent: From is the business number, To the user.
        key = user_key(self._secret, status.from_ or "", status.to or "")
        msg_id = f"{status.message_sid}:{status.status}"
        return EVENTS, EVENTS.subject(f"status.{key}"), status, msg_id

    async def messages(self, request: Request) -> Response:
        return await self._handle(request, "/twilio/messages", self._inbound)

    async def status(self, request: Request) -> Response:
        return await self._handle(request, "/twilio/status", self._status)

    async def _handle(
        self,
        request: Request,
        route: str,
        build: Callable[[dict[str, str]], tuple[Stream, str, Contract, str]],
    ) -> Response:
        started = time.perf_counter()
        with tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", route)
            try:
                outcome = await self._accept(request, build)
                response = Response(EMPTY_TWIML, media_type="text/xml")
            except Rejected as rejected:
                outcome = rejected.outcome
                response = PlainTextResponse(rejected.message + "\n", rejected.status)
                log.info("webhook rejected", extra={"route": route, "outcome": outcome})
            span.set_attribute("http.response.status_code", response.status_code)
        if outcome == "duplicate":
            DUPLICATES.labels(route).inc()
        REQUESTS.labels(route, outcome).inc()
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
        return response

    async def _accept(
        self,
        request: Request,
        build: Callable[[dict[str, str]], tuple[Stream, str, Contract, str]],
    ) -> str:
        """Check and publish one webhook; return the outcome or raise :class:`Rejected`."""
        form = await _read_form(request, self._settings.max_body_bytes)
        if self._checker and not self._checker.is_valid(request.url, request.headers, form):
            raise Rejected(403, "forbidden", "missing or invalid X-Twilio-Signature")
        try:
            stream, subject, message, msg_id = build(form)
        except (WebhookFieldError, ValidationError) as exc:
            detail = (
                str(exc).splitlines()[0]
                if isinstance(exc, WebhookFieldError)
                else (f"invalid field: {exc.errors()[0]['loc'][0]}")
            )
            raise Rejected(400, "bad_request", detail) from None
        runtime = self.runtime
        if runtime is None or not runtime.nc.is_connected:
            raise Rejected(503, "unavailable", "message queue unavailable; retry later")
        started = time.perf_counter()
        try:
            ack = await publish(
                runtime.js,
                subject,
                message,
                msg_id=msg_id,
                timeout=self._settings.nats_publish_timeout,
            )
        except (NatsError, TimeoutError, OSError) as exc:
            log.warning("publish failed: %s", type(exc).__name__)
            raise Rejected(503, "unavailable", "message queue unavailable; retry later") from None
        PUBLISH_SECONDS.labels(stream.name).observe(time.perf_counter() - started)
        return "duplicate" if ack.duplicate else "accepted"


def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]


def create_app(settings: IngressSettings) -> FastAPI:
    """The ingress ASGI app; NATS is connected in its lifespan."""
    readiness = Readiness()
    webhooks = Webhooks(settings)
    if not settings.twilio_validate_signature:
        log.warning("TWILIO_VALIDATE_SIGNATURE is off: anyone can post webhooks to this service")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        topology = Topology(streams=(INBOUND, EVENTS))
        async with nats_runtime(
            service="ingress", settings=settings, topology=topology, readiness=readiness
        ) as runtime:
            webhooks.runtime = runtime
            readiness.serving = True
            try:
                yield
            finally:
                readiness.serving = False
                webhooks.runtime = None

    app = FastAPI(title="chatbot ingress", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.webhooks = webhooks
    app.include_router(health_router(readiness))

    @app.post("/twilio/messages", response_class=Response)
    async def twilio_messages(request: Request, hooks: WebhooksDep) -> Response:
        """An incoming WhatsApp message."""
        return await hooks.messages(request)

    @app.post("/twilio/status", response_class=Response)
    async def twilio_status(request: Request, hooks: WebhooksDep) -> Response:
        """A delivery status callback for a message the sender sent."""
        return await hooks.status(request)

    return app
