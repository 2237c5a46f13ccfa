"""The webhook endpoints: Twilio's messages and status callbacks, and a helpdesk's events.

Each reads the body, checks its signature, turns it into a contract message and publishes it,
then answers, traces and counts the webhook by outcome. A desk's route exists only with its
secret (``CHATWOOT_WEBHOOK_SECRET``, ``HANDOFF_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from urllib.parse import parse_qs

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Receive, Scope, Send

from chatbot_common.contracts import DeliveryStatus, OutboundMessage, utcnow
from chatbot_common.runtime import NatsRuntime
from chatbot_common.topology import EVENTS, INBOUND, OUTBOUND
from chatbot_common.userkey import user_key
from chatbot_common.window import WINDOW_CLOSED, WINDOW_CLOSED_CODE

from .answers import EMPTY_TWIML_BYTES, TEXT_TYPE, TWIML_TYPE, EarlyAnswer, twiml_message
from .asgi import ClientDisconnectedError, respond
from .chatwoot import CHATWOOT
from .config import IngressSettings, normalise_address
from .desk import Desk, DeskPayloadError, DeskSignature
from .forms import read_bounded, read_form
from .metrics import (
    DELIVERY_STATUSES,
    DESK_SERIES,
    ROUTE_SERIES,
    delivery_status_labels,
)
from .publication import Builder, Publication, publish_webhook
from .signature import SignatureChecker
from .webhook_desk import WEBHOOK
from .webhooks import WebhookFieldError, parse_inbound, parse_status

__all__ = ["Webhooks"]

log = logging.getLogger(__name__)

_UNREAD = frozenset({"too_large", "request_timeout", "client_disconnected"})
"""Outcomes of a body never read whole: a desk webhook counts them as malformed."""


def _reengagement(key: str, status: DeliveryStatus, reengage: str | None) -> Publication | None:
    """A free-form message that failed with 63016 asks the sender for the re-engagement
    template, under the key its status callback URL carries (docs/outreach.md)."""
    failed = status.status in ("failed", "undelivered") and status.error_code == WINDOW_CLOSED_CODE
    if not failed or not reengage or not reengage.startswith(f"{key}.") or not status.to:
        return None
    request = OutboundMessage(
        kind="reengage", to=status.to, from_=status.from_, idempotency_key=reengage
    )
    counted = WINDOW_CLOSED.labels("63016_status")
    return Publication(OUTBOUND, OUTBOUND.subject(key), request, reengage, counted)


class Webhooks:
    """The webhook endpoints: the same checks, then one durable publish.

    ``routes`` maps each path served to its endpoint.
    """

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
        self.routes: dict[str, ASGIApp] = {
            "/twilio/messages": self.messages,
            "/twilio/status": self.status,
        }
        desks = (
            (CHATWOOT, settings.chatwoot_webhook_secret),
            (WEBHOOK, settings.handoff_webhook_secret),
        )
        for desk, secret in desks:
            if key := secret.get_secret_value():
                self.routes[desk.path] = partial(self._desk, desk, desk.signature(key))
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

    def _status(self, form: dict[str, str], *, reengage: str | None) -> Publication:
        status = parse_status(form, received_at=utcnow())
        # A status is about a message we sent: From is the business number, To the user.
        key = user_key(self._secret, status.from_ or "", status.to or "")
        msg_id = f"{status.message_sid}:{status.status}"
        counted = DELIVERY_STATUSES.labels(
            *delivery_status_labels(status.status, status.error_code)
        )
        return Publication(
            EVENTS,
            EVENTS.subject(f"status.{key}"),
            status,
            msg_id,
            counted,
            then=_reengagement(key, status, reengage),
        )

    def start(self, runtime: NatsRuntime) -> None:
        """Take webhooks over ``runtime`` (tracing is configured by now)."""
        self.runtime = runtime
        self._tracer = trace.get_tracer_provider().get_tracer("chatbot.ingress")

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "/twilio/messages", self._inbound)

    async def status(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        reengage = next(iter(query.get("reengage", ())), None)
        build = partial(self._status, reengage=reengage)
        await self._handle(scope, receive, send, "/twilio/status", build)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, route: str, build: Builder
    ) -> None:
        started = time.perf_counter()
        with self._tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as span:
            status: int | None
            try:
                outcome = await self._check_and_publish(scope, receive, build)
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

    async def _check_and_publish(self, scope: Scope, receive: Receive, build: Builder) -> str:
        """Check and publish one webhook; return the outcome or raise :class:`EarlyAnswer`."""
        settings = self._settings
        form = await read_form(scope, receive, settings.max_body_bytes, settings.body_read_timeout)
        if self._checker and not self._checker.is_valid(scope, form):
            raise EarlyAnswer(403, "forbidden", "missing or invalid X-Twilio-Signature")
        try:
            publication = build(form)
        except WebhookFieldError as exc:
            raise EarlyAnswer(400, "bad_request", str(exc)) from None
        return await publish_webhook(
            self.runtime, publication, timeout=settings.nats_publish_timeout
        )

    async def _desk(
        self, desk: Desk, signature: DeskSignature, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Take one of a desk's webhooks: publish an agent's reply or a handback, else answer
        why not."""
        route = desk.path
        with self._tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER) as span:
            status: int | None
            try:
                outcome = await self._take_desk(scope, receive, desk, signature)
            except EarlyAnswer as answer:
                outcome, status = answer.outcome, answer.status
                await answer.send(send)
            except ClientDisconnectedError:
                outcome, status = "client_disconnected", None
            else:
                status = 200
                await respond(send, 200, f"{outcome}\n".encode(), TEXT_TYPE)
            if span.is_recording():
                span.set_attribute("http.route", route)
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
        outcome = "malformed" if outcome in _UNREAD else outcome
        if outcome not in ("published", "duplicate"):
            log.info("desk webhook not published", extra={"route": route, "outcome": outcome})
        DESK_SERIES[desk.name][outcome].inc()

    async def _take_desk(
        self, scope: Scope, receive: Receive, desk: Desk, signature: DeskSignature
    ) -> str:
        """Check and publish one desk webhook; return the outcome or raise EarlyAnswer."""
        settings = self._settings
        body = await read_bounded(
            scope, receive, settings.max_body_bytes, settings.body_read_timeout
        )
        problem = signature.problem(scope, body, now=time.time())
        if problem is not None:
            raise EarlyAnswer(403, "unauthenticated", problem)
        try:
            update = desk.read(scope, body, received_at=utcnow())
        except DeskPayloadError as exc:
            raise EarlyAnswer(400, "malformed", str(exc)) from None
        if update is None:
            raise EarlyAnswer(200, "ignored", "ignored: no agent reply or handback")
        if update.user is None:
            message = f"unknown conversation: {desk.user_field} is not a user key"
            raise EarlyAnswer(200, "unknown_conversation", message)
        subject = INBOUND.subject(update.user)
        publication = Publication(INBOUND, subject, update.event, update.event.delivery_id)
        outcome = await publish_webhook(
            self.runtime, publication, timeout=settings.nats_publish_timeout
        )
        return "published" if outcome == "accepted" else outcome
