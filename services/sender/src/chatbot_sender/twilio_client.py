"""Sending one message part through the official twilio SDK's async client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Histogram
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from chatbot_common.contracts import OutboundMessage

from .config import SenderSettings

__all__ = ["TWILIO_SECONDS", "TwilioSender", "twilio_sender"]

TWILIO_SECONDS = Histogram(
    "chatbot_twilio_request_seconds",
    "Time of one Twilio Messages create, by outcome.",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15),
)


class TwilioSender:
    """Creates Twilio messages for outbound parts."""

    def __init__(self, client: Client, settings: SenderSettings) -> None:
        self._client = client
        self._messaging_service_sid = settings.twilio_messaging_service_sid
        self._default_from = settings.twilio_whatsapp_from
        self._status_callback = (
            settings.public_base_url.rstrip("/") + "/twilio/status"
            if settings.public_base_url
            else None
        )

    async def send(self, message: OutboundMessage, body: str) -> str:
        """Send ``body`` to ``message.to``; return the Twilio message SID."""
        sender: dict[str, str] = {}
        if self._messaging_service_sid:
            sender["messaging_service_sid"] = self._messaging_service_sid
        else:
            from_ = message.from_ or self._default_from
            if not from_:
                raise ValueError("no sender: set TWILIO_WHATSAPP_FROM or a Messaging Service")
            sender["from_"] = from_
        extra: dict[str, str] = {}
        if self._status_callback:
            extra["status_callback"] = self._status_callback
        started = time.perf_counter()
        outcome = "error"
        try:
            created = await self._client.messages.create_async(
                to=message.to, body=body, **sender, **extra
            )
            outcome = "ok"
        finally:
            TWILIO_SECONDS.labels(outcome).observe(time.perf_counter() - started)
        return str(created.sid)


@asynccontextmanager
async def twilio_sender(settings: SenderSettings) -> AsyncIterator[TwilioSender]:
    """A sender on its own HTTP session (opened in the running loop, closed on exit)."""
    http_client = AsyncTwilioHttpClient(timeout=settings.twilio_timeout)
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=http_client,
    )
    if settings.twilio_api_base_url:
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
    try:
        yield TwilioSender(client, settings)
    finally:
        await http_client.close()
