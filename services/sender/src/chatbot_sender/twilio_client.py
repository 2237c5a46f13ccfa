"""Twilio's REST API through the official SDK's async client: message parts, typing indicators.

One wrapper bounds, traces and times every call and turns each failure into a
:class:`~.failures.TwilioFailure`; ``TWILIO_API_BASE_URL`` replaces both Twilio hosts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.rest import Client

from .config import SenderSettings
from .failures import TwilioFailure, parse_retry_after
from .metrics import TWILIO_SECONDS
from .twilio_http import answer_of_call, instrumented_http_client

__all__ = ["Sender", "TwilioClient", "open_twilio"]

tracer = trace.get_tracer("chatbot.sender")


@dataclass(frozen=True)
class Sender:
    """Who a message goes out from: a Messaging Service, else a WhatsApp sender number."""

    from_: str | None = None
    messaging_service_sid: str | None = None

    @property
    def key(self) -> str:
        """The rate-limited identity (kept in memory only, never logged)."""
        return self.messaging_service_sid or self.from_ or ""


class TwilioClient:
    """The two Twilio calls the sender makes."""

    def __init__(self, client: Client, *, timeout: float, status_callback: str | None) -> None:
        self._client = client
        self._timeout = timeout
        self._status_callback = status_callback

    async def send_message(
        self,
        *,
        to: str,
        sender: Sender,
        body: str | None = None,
        media_url: str | None = None,
        content_sid: str | None = None,
        content_variables: str | None = None,
        reengage: str | None = None,
    ) -> str:
        """Create one message (a text part, one media or a template); return its SID (SM...).

        ``reengage`` goes into the status callback's URL: a failed status with 63016 asks
        for the re-engagement with this idempotency key (docs/outreach.md).
        """
        params: dict[str, Any] = {"to": to}
        if sender.messaging_service_sid:
            params["messaging_service_sid"] = sender.messaging_service_sid
        else:
            params["from_"] = sender.from_
        if body:
            params["body"] = body
        if media_url:
            params["media_url"] = [media_url]
        if content_sid:
            params["content_sid"] = content_sid
        if content_variables:
            params["content_variables"] = content_variables
        if self._status_callback:
            query = f"?{urlencode({'reengage': reengage})}" if reengage else ""
            params["status_callback"] = self._status_callback + query
        created = await self._call(
            "messages.create",
            self._client.api.base_url,
            lambda: self._client.messages.create_async(**params),
        )
        return str(created.sid)

    async def send_typing(self, message_sid: str) -> None:
        """Show the typing indicator for the inbound message ``message_sid`` (and mark it read)."""
        messaging = self._client.messaging
        await self._call(
            "typing_indicator.create",
            messaging.base_url,
            lambda: messaging.v2.typing_indicator.create_async(
                channel="whatsapp", message_id=message_sid
            ),
        )

    async def _call[T](
        self, operation: str, base_url: str, request: Callable[[], Awaitable[T]]
    ) -> T:
        attributes = {
            "twilio.operation": operation,
            "http.request.method": "POST",
            "server.address": urlsplit(base_url).hostname or "",
        }
        with (
            tracer.start_as_current_span(
                f"twilio {operation}", kind=SpanKind.CLIENT, attributes=attributes
            ) as span,
            answer_of_call() as answer,
        ):
            started = time.perf_counter()
            outcome = "error"
            try:
                async with asyncio.timeout(self._timeout):
                    result = await request()
                outcome = "ok"
                return result
            except (TwilioRestException, TwilioServiceException) as exc:
                failure = TwilioFailure(
                    status=int(exc.status),
                    code=int(exc.code) if exc.code is not None else None,
                    kind="http",
                    retry_after=parse_retry_after(answer.retry_after),
                )
            except TimeoutError:
                failure = TwilioFailure(status=None, code=None, kind="timeout", retry_after=None)
            except aiohttp.ClientError:
                failure = TwilioFailure(status=None, code=None, kind="network", retry_after=None)
            finally:
                TWILIO_SECONDS.labels(operation, outcome).observe(time.perf_counter() - started)
                if answer.status is not None:
                    span.set_attribute("http.response.status_code", answer.status)
            span.set_attribute("error.type", failure.label)
            span.set_status(Status(StatusCode.ERROR, failure.label))
            raise failure from None


@asynccontextmanager
async def open_twilio(settings: SenderSettings) -> AsyncIterator[TwilioClient]:
    """A client on its own HTTP session (opened in the running loop, closed on exit)."""
    http_client = instrumented_http_client()
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=http_client,
    )
    base_url = settings.twilio_api_base_url
    if base_url:
        client.api.base_url = base_url.rstrip("/")
        client.messaging.base_url = base_url.rstrip("/")
    status_callback = (
        f"{settings.public_base_url.rstrip('/')}/twilio/status"
        if settings.public_base_url
        else None
    )
    try:
        yield TwilioClient(client, timeout=settings.twilio_timeout, status_callback=status_callback)
    finally:
        await http_client.close()
