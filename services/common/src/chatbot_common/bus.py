"""Connecting to NATS and publishing contract messages durably.

:func:`connect` keeps trying the first connection for a bounded time and then fails with one
clear error; after that the client reconnects forever. :func:`publish` returns only once
JetStream has acknowledged the message (the PubAck), so a caller that acknowledges its own input
after it can never lose a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoServersError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from .contracts import Contract, encode
from .tracing import messaging_attributes, spans_recorded

__all__ = ["MSG_ID_HEADER", "NatsUnavailableError", "connect", "publish", "redact_url"]

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("chatbot.bus")

MSG_ID_HEADER = "Nats-Msg-Id"


class NatsUnavailableError(RuntimeError):
    """NATS could not be reached at start-up."""


def redact_url(url: str) -> str:
    """Drop credentials from a NATS URL so it can be logged."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


async def connect(url: str, *, name: str, timeout: float) -> NATS:
    """Connect to NATS, retrying for up to ``timeout`` seconds, then reconnecting forever."""
    servers = [server.strip() for server in url.split(",") if server.strip()]
    connected = False
    client: NATS | None = None

    async def on_disconnect() -> None:
        if client is not None and client.is_closed:
            return  # our own close or drain, not an outage
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    async def on_error(exc: Exception) -> None:
        # While the first connection is still being tried, failures are expected.
        log.log(logging.WARNING if connected else logging.DEBUG, "nats error: %r", exc)

    try:
        async with asyncio.timeout(timeout):
            client = await nats.connect(
                servers,
                name=name,
                connect_timeout=min(2.0, timeout),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
    except (TimeoutError, NoServersError, OSError) as exc:
        shown = ", ".join(redact_url(server) for server in servers)
        raise NatsUnavailableError(
            f"cannot reach NATS at {shown} after {timeout:g}s ({type(exc).__name__}); "
            "is nats-server running and NATS_URL right?"
        ) from None
    connected = True
    return client


async def publish(
    js: JetStreamContext,
    subject: str,
    message: Contract,
    *,
    msg_id: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> PubAck:
    """Publish ``message`` with ``Nats-Msg-Id`` and the current trace context; await the PubAck.

    The publish is a producer span of its own when spans are recorded. ``PubAck.duplicate`` is
    true when JetStream dropped it as a repeat of ``msg_id``.
    """
    if not spans_recorded():
        return await _send(js, subject, message, msg_id=msg_id, timeout=timeout, headers=headers)
    prefix = subject.rpartition(".")[0]
    with _tracer.start_as_current_span(
        f"send {prefix}",
        kind=SpanKind.PRODUCER,
        attributes=messaging_attributes(prefix, "send", msg_id),
    ):
        return await _send(js, subject, message, msg_id=msg_id, timeout=timeout, headers=headers)


async def _send(
    js: JetStreamContext,
    subject: str,
    message: Contract,
    *,
    msg_id: str,
    timeout: float,
    headers: Mapping[str, str] | None,
) -> PubAck:
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    carrier[MSG_ID_HEADER] = msg_id
    return await js.publish(subject, encode(message), timeout=timeout, headers=carrier)
