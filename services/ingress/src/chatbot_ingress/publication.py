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
from prometheus_client import Counter

from chatbot_common.bus import publish
from chatbot_common.contracts import Contract
from chatbot_common.provisioning import is_refusal
from chatbot_common.runtime import NatsRuntime
from chatbot_common.topology import Stream

from .answers import UNAVAILABLE, EarlyAnswer
from .metrics import PUBLISH_SECONDS_BY_STREAM

__all__ = ["Builder", "Publication", "publish_webhook"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Publication:
    """What one webhook becomes: a message, where it goes, and its deduplication id.

    ``counted`` is the metric series counted once JetStream took it (not when it is a
    repeat). ``then`` is published after it, even on a repeat (the first may have stopped
    between the two).
    """

    stream: Stream
    subject: str
    message: Contract
    msg_id: str
    counted: Counter | None = None
    then: Publication | None = None


Builder = Callable[[dict[str, str]], Publication]
"""Turns a webhook's form into its :class:`Publication` (or raises an early answer)."""


async def publish_webhook(
    runtime: NatsRuntime | None, publication: Publication, *, timeout: float
) -> str:
    """Publish ``publication`` (then its ``then``): ``"accepted"`` or ``"duplicate"``, else a
    503 EarlyAnswer."""
    outcome = await _publish_one(runtime, publication, timeout=timeout)
    if publication.then is not None:
        await _publish_one(runtime, publication.then, timeout=timeout)
    return outcome


async def _publish_one(
    runtime: NatsRuntime | None, publication: Publication, *, timeout: float
) -> str:
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
    if publication.counted is not None:
        publication.counted.inc()
    return "accepted"
