"""The ingress app: Twilio webhooks in, JetStream out.

A webhook is answered 200 (empty TwiML) only after JetStream acknowledged the message, so
Twilio never believes a message was taken that could still be lost. When NATS is down or slow
the answer is 503 and Twilio retries or uses the fallback URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from xml.sax.saxutils import escape

from fastapi import FastAPI
from nats.errors import Error as NatsError
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Receive, Scope, Send

from chatbot_common.bus import publish
from chatbot_common.contracts import Contract, utcnow
from chatbot_common.health import Readiness, health_router
from chatbot_common.provisioning import is_refusal
from chatbot_common.runtime import NatsRuntime, Topology, nats_runtime
from chatbot_common.topology import EVENTS, INBOUND, Stream
from chatbot_common.tracing import NO_FASTAPI_TELEMETRY
from chatbot_common.userkey import user_key

from .asgi import (
    BodyTooLargeError,
    ClientDisconnectedError,
    header,
    parse_form,
    read_body,
    respond,
)
from .config import IngressSettings, normalise_address
from .metrics import (
    DELIVERY_STATUSES,
    PUBLISH_SECONDS_BY_STREAM,
    ROUTE_SERIES,
    delivery_status_labels,
)
from .signature import SignatureChecker
from .webhooks import WebhookFieldError, parse_inbound, parse_status

__all__ = ["IngressApp", "create_app"]

log = logging.getLogger(__name__)

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TWIML = f"{XML_DECLARATION}<Response/>"
EMPTY_TWIML_BYTES = EMPTY_TWIML.encode()
TWIML_TYPE = b"text/xml; charset=utf-8"
TEXT_TYPE = b"text/plain; charset=utf-8"
UNAVAILABLE = "message queue unavailable; retry later"
FORM_TYPE = "application/x-www-form-urlencoded"


class EarlyAnswer(Exception):
    """A webhook answered before anything was published (an error, or a refused sender).

    ``close`` ends the connection after the answer: for answers given before the body was
    read to its end (see :func:`~.asgi.respond`).
    """

    def __init__(
        self, status: int, outcome: str, message: str, *, twiml: bool = False, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message
        self.twiml = twiml
        self.close = close

    async def send(self, send: Send) -> None:
        if self.twiml:
            await respond(send, self.status, self.message.encode(), TWIML_TYPE, close=self.close)
        else:
            body = f"{self.message}\n".encode()
            await respond(send, self.status, body, TEXT_TYPE, close=self.close)


def twiml_message(text: str) -> str:
    """TwiML that makes Twilio answer the sender with ``text`` (or nothing when empty)."""
    if not text:
        return EMPTY_TWIML
    return f"{XML_DECLARATION}<Response><Message>{escape(text)}</Message></Response>"


async def _read_form(scope: Scope, receive: Receive, limit: int, timeout: float) -> dict[str, str]:
    """The form fields of a webhook, refusing other content types and oversized bodies.

    The whole body must arrive within ``timeout`` seconds, however steadily it trickles in:
    a slower client is answered 408 and its connection closed. A client that hangs up while
    sending raises :class:`ClientDisconnectedError`.
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


@dataclass(frozen=True)
class Publication:
    """What one webhook becomes: a message, where it goes, and its deduplication id.

    ``status_labels`` is set for a status callback: the labels it is counted under in
    ``chatbot_delivery_statuses_total`` once JetStream took it (not when it is a repeat).
    """

    stream: Stream
    subject: str
    message: Contract
    msg_id: str
    status_labels: tuple[str, str] | None = None


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
        self._tracer = trace.get_tracer("chatbot.ingress")

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
        labels = delivery_status_labels(status.status, status.error_code)
        return Publication(EVENTS, EVENTS.subject(f"status.{key}"), status, msg_id, labels)

    def start(self, runtime: NatsRuntime) -> None:
        """Take webhooks over ``runtime`` (tracing is configured by now)."""
        self.runtime = runtime
        self._tracer = trace.get_tracer_provider().get_tracer("chatbot.ingress")

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "/twilio/messages", self._inbound)

    async def status(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "/twilio/status", self._status)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, route: str, build: Builder
    ) -> None:
        started = time.perf_counter()
        with self._tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as span:
            status: int | None
            try:
                outcome = await self._accept(scope, receive, build)
            except EarlyAnswer as answer:
                outcome, status = answer.outcome, answer.status
                await answer.send(send)
                log.info("webhook not published", extra={"route": route, "outcome": outcome})
            except ClientDisconnectedError:
                # Nobody is left to answer; anyone can do this at will, so no traceback.
                outcome, status = "client_disconnected", None
                log.info("webhook not published", extra={"route": route, "outcome": outcome})
            else:
                status = 200
                await respond(send, 200, EMPTY_TWIML_BYTES, TWIML_TYPE)
            if span.is_recording():
                span.set_attribute("http.route", route)
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
        series = ROUTE_SERIES[route]
        if outcome == "duplicate":
            series.duplicates.inc()
        series.requests[outcome].inc()
        series.seconds.observe(time.perf_counter() - started)

    async def _accept(self, scope: Scope, receive: Receive, build: Builder) -> str:
        """Check and publish one webhook; return the outcome or raise :class:`EarlyAnswer`."""
        settings = self._settings
        form = await _read_form(scope, receive, settings.max_body_bytes, settings.body_read_timeout)
        if self._checker and not self._checker.is_valid(scope, form):
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
            log.warning("publish failed: %s", exc if is_refusal(exc) else type(exc).__name__)
            runtime.provisioner.note(exc)  # a full store, or a stream to declare again
            raise EarlyAnswer(503, "unavailable", UNAVAILABLE) from None
        runtime.provisioner.note()
        PUBLISH_SECONDS_BY_STREAM[publication.stream.name].observe(time.perf_counter() - started)
        if ack.duplicate:
            return "duplicate"
        if publication.status_labels is not None:
            DELIVERY_STATUSES.labels(*publication.status_labels).inc()
        return "accepted"


class IngressApp:
    """ingress as uvicorn runs it: the webhook routes served directly, the rest by FastAPI.

    The webhook routes read the raw form themselves, so a framework's request parsing and
    middleware would only add cost to the hottest path of the system (see bench/ingress.py).
    """

    def __init__(self, api: FastAPI, webhooks: Webhooks) -> None:
        self.api = api
        self._routes: dict[str, ASGIApp] = {
            "/twilio/messages": webhooks.messages,
            "/twilio/status": webhooks.status,
        }

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
        topology = Topology(streams=(INBOUND, EVENTS))
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
