"""The JetStream streams, consumers and KV buckets of the system, declared once.

Every service provisions the parts it uses at start-up with :func:`provision`: each stream,
consumer and bucket is added, or updated to the declared configuration when it already exists.
A fresh NATS therefore works with no manual step, and replicas starting together do no harm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

__all__ = [
    "AUDIT",
    "CONVERSATIONS_BUCKET",
    "DELIVERIES_BUCKET",
    "DLQ",
    "EVENTS",
    "HANDOFFS_BUCKET",
    "INBOUND",
    "OUTBOUND",
    "REQUESTS_BUCKET",
    "SENDER_ERASE",
    "Bucket",
    "Consumer",
    "Stream",
    "provision",
]

log = logging.getLogger(__name__)

_DAY = 24 * 3600.0


@dataclass(frozen=True)
class Stream:
    """A stream and the subject prefix of everything published to it."""

    name: str
    prefix: str
    max_age: float
    allow_direct: bool = False

    def subject(self, token: str) -> str:
        """The subject for one user key (or service name, for the DLQ)."""
        return f"{self.prefix}.{token}"

    def token(self, subject: str) -> str:
        """The part of ``subject`` after this stream's prefix (the inverse of :meth:`subject`)."""
        return subject.removeprefix(f"{self.prefix}.")

    def config(self, *, duplicate_window: float, replicas: int) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=[f"{self.prefix}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=self.max_age,
            duplicate_window=duplicate_window,
            num_replicas=replicas,
            allow_direct=self.allow_direct,
        )


@dataclass(frozen=True)
class Consumer:
    """A durable pull consumer shared by all replicas of one service."""

    stream: Stream
    durable: str
    ack_wait: float = 60.0
    max_ack_pending: int = 10_000

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
            filter_subject=f"{self.stream.prefix}.>",
        )


@dataclass(frozen=True)
class Bucket:
    """A KV bucket."""

    name: str
    history: int = 1
    ttl: float | None = None

    def config(self, *, replicas: int) -> KeyValueConfig:
        return KeyValueConfig(
            bucket=self.name,
            history=self.history,
            ttl=self.ttl,
            storage=StorageType.FILE,
            replicas=replicas,
        )


INBOUND = Stream("CHAT_INBOUND", "chat.inbound", max_age=7 * _DAY, allow_direct=True)
OUTBOUND = Stream("CHAT_OUTBOUND", "chat.outbound", max_age=7 * _DAY, allow_direct=True)
EVENTS = Stream("CHAT_EVENTS", "chat.events", max_age=7 * _DAY)
DLQ = Stream("CHAT_DLQ", "chat.dlq", max_age=30 * _DAY)
AUDIT = Stream("CHAT_AUDIT", "chat.audit", max_age=365 * _DAY)
"""What operators did through the console (``AuditEvent``), kept a year."""

CONVERSATIONS_BUCKET = Bucket("CHAT_CONVERSATIONS")
DELIVERIES_BUCKET = Bucket("CHAT_DELIVERIES", ttl=7 * _DAY)
HANDOFFS_BUCKET = Bucket("CHAT_HANDOFFS")
"""Who is with a person now, one key per user: read by the idle timer and for the wait gauge."""
REQUESTS_BUCKET = Bucket("CHAT_REQUESTS", ttl=_DAY)
"""What became of an operator's request, by its id: an erase's report (docs/console.md)."""

SENDER_ERASE = "chat.control.sender.erase"
"""Core NATS request to the sender: delete what CHAT_DELIVERIES holds of the user key sent."""


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:
        # Exists with another configuration: bring it to the declared one.
        await js.update_stream(config)


async def _ensure_bucket(js: JetStreamContext, bucket: Bucket, replicas: int) -> None:
    try:
        await js.key_value(bucket.name)
    except NotFoundError:
        await js.create_key_value(bucket.config(replicas=replicas))


async def provision(
    js: JetStreamContext,
    *,
    streams: tuple[Stream, ...] = (),
    consumers: tuple[Consumer, ...] = (),
    buckets: tuple[Bucket, ...] = (),
    duplicate_window: float,
    replicas: int = 1,
) -> None:
    """Create or update the given streams, consumers and buckets (idempotent)."""
    for stream in streams:
        await _ensure_stream(
            js, stream.config(duplicate_window=duplicate_window, replicas=replicas)
        )
    for consumer in consumers:
        # The server creates a durable, or updates it to this configuration.
        await js.add_consumer(consumer.stream.name, consumer.config())
    for bucket in buckets:
        await _ensure_bucket(js, bucket, replicas)
    log.info(
        "jetstream provisioned",
        extra={
            "streams": [s.name for s in streams],
            "consumers": [c.durable for c in consumers],
            "buckets": [b.name for b in buckets],
        },
    )
