"""Publishing one webhook to JetStream: answered 200 only once JetStream has acknowledged it.

When NATS is down or slow the webhook is answered 503, and Twilio retries or uses the
fallback URL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.errors import Error as NatsError

from chatbot_common.bus import publish
from chatbot_common.contracts import Contract
from chatbot_common.provisioning import is_refusal
from chatbot_common.runtime import NatsRuntime
from chatbot_common.topology import Stream

from .answers import UNAVAILABLE, EarlyAnswer
from .metrics import DELIVERY_STATUSES, PUBLISH_SECONDS_BY_STREAM

__all__ = ["Builder", "Publication", "publish_webhook"]

log = logging.getLogger(__name__)


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
"""Turns a webhook's form into its :class:`Publication` (or raises an early answer)."""


async def publish_webhook(
    runtime: NatsRuntime | None, publication: Publication, *, timeout: float
) -> str:
    """Publish ``publication``: ``"accepted"`` or ``"duplicate"``, else a 503 EarlyAnswer."""
    if runtime is None or not runtime.nc.is_connected:
        raise EarlyAnswer(503, "unavailable", UNAVAILABLE)
    started = time.perf_counter()
    try:
        ack = await publish(
            runtime.js,
            publication.subject,
            publication.message,
            msg_id=publication.msg_id,
            timeout=timeout,
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
