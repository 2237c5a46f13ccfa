"""Dead letters: messages a service gives up on, kept with the reason for an operator.

A dead letter carries the original payload as text. A payload of any size must still make a
record NATS accepts (1 MB by default), or the message could never be given up and would come
back for ever: so a record keeps at most :data:`MAX_ORIGINAL_BYTES` of it, and then says how
large the whole was (``original_size``).
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import Counter

from .bus import MSG_ID_HEADER, publish
from .contracts import DeadLetter
from .topology import DLQ

__all__ = [
    "DEAD_LETTERS",
    "MAX_ORIGINAL_BYTES",
    "dead_letter",
    "kept_payload",
    "publish_dead_letter",
]

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "chatbot_dlq_messages_total",
    "Messages written to the dead-letter stream, by service and reason.",
    ["service", "reason"],
)

MAX_ORIGINAL_BYTES = 128 * 1024
"""Bytes of an original payload a dead letter keeps. JSON can spell one byte in six (a control
character as ``\\u0000``), so the record stays well under NATS's 1 MB message limit."""


def kept_payload(data: bytes) -> tuple[str, int | None]:
    """A dead letter's ``original_payload`` for ``data``, and ``original_size`` when it is cut."""
    if len(data) <= MAX_ORIGINAL_BYTES:
        return data.decode("utf-8", errors="replace"), None
    return data[:MAX_ORIGINAL_BYTES].decode("utf-8", errors="replace"), len(data)


async def dead_letter(
    js: JetStreamContext,
    message: Msg,
    *,
    service: str,
    reason: str,
    error_code: str | None = None,
    timeout: float,
) -> None:
    """Publish ``message`` to ``chat.dlq.<service>`` with why it failed (durably, deduplicated).

    ``reason`` is a short, fixed word (it becomes a metric label); details go in ``error_code``.
    """
    original_id = (message.headers or {}).get(MSG_ID_HEADER)
    stream_id = f"{message.metadata.stream}:{message.metadata.sequence.stream}"
    payload, size = kept_payload(message.data)
    record = DeadLetter(
        service=service,
        reason=reason,
        error_code=error_code,
        attempts=message.metadata.num_delivered,
        original_subject=message.subject,
        original_id=original_id,
        original_payload=payload,
        original_size=size,
    )
    await publish_dead_letter(js, record, stream_id=stream_id, timeout=timeout)


async def publish_dead_letter(
    js: JetStreamContext, record: DeadLetter, *, stream_id: str, timeout: float
) -> None:
    """Publish a prepared dead letter for the message at ``stream_id`` (``<stream>:<seq>``).

    For a message a service read from its stream itself (a direct get) rather than received as
    a delivery; the ``Nats-Msg-Id`` is the same as :func:`dead_letter` would give it.
    """
    await publish(
        js, DLQ.subject(record.service), record, msg_id=f"dlq:{stream_id}", timeout=timeout
    )
    DEAD_LETTERS.labels(record.service, record.reason).inc()
    log.warning(
        "dead-lettered a message",
        extra={"reason": record.reason, "error_code": record.error_code, "source": stream_id},
    )
