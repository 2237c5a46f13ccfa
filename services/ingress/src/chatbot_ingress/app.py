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
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from nats.errors import Error as NatsError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from chatbot_common.bus import publish
from chatbot_common.contracts import Contract, utcnow
from chatbot_common.health import Readiness, health_router
from chatbot_common.runtime import NatsRuntime, Topology, nats_runtime
from chatbot_common.topology import EVENTS, INBOUND, Stream
from chatbot_common.userkey import user_key

from .config import IngressSettings, normalise_address
from .metrics import DUPLICATES, PUBLISH_SECONDS, REQUEST_SECONDS, REQUESTS
from .signature import SignatureChecker
from .webhooks import WebhookFieldError, parse_inbound, parse_status

__all__ = ["create_app"]

log = logging.getLogger(__name__)
tracer = trace.get_tracer("chatbot.ingress")

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TWIML = f"{XML_DECLARATION}<Response/>"
UNAVAILABLE = "message queue unavailable; retry later"
FORM_TYPE = "application/x-www-form-urlencoded"


class EarlyAnswer(Exception):
    """A webhook answered before anything was published (an error, or a refused sender)."""

    def __init__(self, status: int, outcome: str, message: str, *, twiml: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message
        self.twiml = twiml

    def response(self) -> Response:
        if self.twiml:
            return Response(self.message, self.status, media_type="text/xml")
        return PlainTextResponse(self.message + "\n", self.status)


def twiml_message(text: str) -> str:
    """TwiML that makes Twilio answer the sender with ``text`` (or nothing when empty)."""
    if not text:
        return EMPTY_TWIML
    return f"{XML_DECLARATION}<Response><Message>{escape(text)}</Message></Response>"


async def _read_form(request: Request, limit: int) -> dict[str, str]:
    """The form fields of a webhook, refusing other content types and oversized bodies."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise EarlyAnswer(415, "unsupported_media_type", f"expected {FORM_TYPE}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise EarlyAnswer(413, "too_large", f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise EarlyAnswer(413, "too_large", f"body over {limit} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise EarlyAnswer(400, "bad_request", "body is not UTF-8") from None
    return dict(pairs)


@dataclass(frozen=True)
class Publication:
    """What one webhook becomes: a message, where it goes, and its deduplication id."""

    stream: Stream
    subject: str
    message: Contract
    msg_id: str


Builder = Callable[[dict[str, str]], Publication]


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

    def _inbound(self, form: dict[str, str]) -> Publication:
        message = parse_inbound(form, received_at=utcnow())
        allowed = self._settings.allowed_senders
        if allowed and normalise_address(message.from_) not in allowed:
            reply = twiml_message(self._settings.not_allowed_reply)
            raise EarlyAnswer(200, "not_allowed", reply, twiml=True)
        key = user_key(self._secret, message.to, message.from_)
        return Publication(INBOUND, INBOUND.subject(key), message, message.message_sid)

    def _status(self, form: dict[str, str]) -> Publication:
        status = parse_status(form, received_at=utcnow())
        # A status is about a message we sent: From is the business number, To the user.
        key = user_key(self._secret, status.from_ or "", status.to or "")
        msg_id = f"{status.message_sid}:{status.status}"
        return Publication(EVENTS, EVENTS.subject(f"status.{key}"), status, msg_id)

    async def messages(self, request: Request) -> Response:
        return await self._handle(request, "/twilio/messages", self._inbound)

    async def status(self, request: Request) -> Response:
        return await self._handle(request, "/twilio/status", self._status)

    async def _handle(
        self,
        request: Request,
        route: str,
        build: Builder,
    ) -> Response:
        started = time.perf_counter()
        with tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", route)
            try:
                outcome = await self._accept(request, build)
                response = Response(EMPTY_TWIML, media_type="text/xml")
            except EarlyAnswer as answer:
                outcome = answer.outcome
                response = answer.response()
                log.info("webhook not published", extra={"route": route, "outcome": outcome})
            span.set_attribute("http.response.status_code", response.status_code)
        if outcome == "duplicate":
            DUPLICATES.labels(route).inc()
        REQUESTS.labels(route, outcome).inc()
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
        return response

    async def _accept(
        self,
        request: Request,
        build: Builder,
    ) -> str:
        """Check and publish one webhook; return the outcome or raise :class:`EarlyAnswer`."""
        form = await _read_form(request, self._settings.max_body_bytes)
        if self._checker and not self._checker.is_valid(request.url, request.headers, form):
            raise EarlyAnswer(403, "forbidden", "missing or invalid X-Twilio-Signature")
        try:
            publication = build(form)
        except WebhookFieldError as exc:
            raise EarlyAnswer(400, "bad_request", str(exc)) from None
        runtime = self.runtime
        if runtime is None or not runtime.nc.is_connected:
            raise EarlyAnswer(503, "unavailable", UNAVAILABLE)
        started = time.perf_counter()
        try:
            ack = await publish(
                runtime.js,
                publication.subject,
                publication.message,
                msg_id=publication.msg_id,
                timeout=self._settings.nats_publish_timeout,
            )
        except (NatsError, TimeoutError, OSError) as exc:
            log.warning("publish failed: %s", type(exc).__name__)
            raise EarlyAnswer(503, "unavailable", UNAVAILABLE) from None
        PUBLISH_SECONDS.labels(publication.stream.name).observe(time.perf_counter() - started)
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
