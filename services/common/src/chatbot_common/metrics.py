"""The Prometheus metrics every worker shares, and how ``/metrics`` is rendered.

The rules every metric follows (labels, series made up front, no ``*_created``) are in
docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from .config import ServiceSettings
from .topology import Consumer

__all__ = [
    "CONSUMER_ACK_PENDING",
    "CONSUMER_IN_FLIGHT",
    "CONSUMER_MAX_IN_FLIGHT",
    "CONSUMER_PENDING",
    "CONTENT_TYPE_LATEST",
    "HANDLED",
    "HANDLE_OUTCOMES",
    "HANDLE_SECONDS",
    "REDECLARED",
    "WRITES_REFUSED",
    "ConsumerLagReporter",
    "StartHook",
    "at_start",
    "exposition",
    "run_start_hooks",
]

log = logging.getLogger(__name__)

disable_created_metrics()  # type: ignore[no-untyped-call]

HANDLE_OUTCOMES = ("ok", "error", "interrupted")
"""The ``outcome`` values of ``chatbot_consumer_messages_total``."""

HANDLED = Counter(
    "chatbot_consumer_messages_total",
    "Messages taken from a JetStream consumer, by consumer and outcome (ok, error, interrupted).",
    ["consumer", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "chatbot_consumer_handle_seconds",
    "Time a handler spent on one message (a turn with its model calls, or one reply's sends).",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
CONSUMER_PENDING = Gauge(
    "chatbot_consumer_pending_messages",
    "Messages in the stream not yet delivered to the durable consumer (its lag), as NATS "
    "reports it; the same value from every replica.",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "chatbot_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet acknowledged, as NATS reports it; "
    "the same value from every replica.",
    ["consumer"],
)
CONSUMER_IN_FLIGHT = Gauge(
    "chatbot_consumer_in_flight_messages",
    "Messages this process is handling now.",
    ["consumer"],
)
CONSUMER_MAX_IN_FLIGHT = Gauge(
    "chatbot_consumer_max_in_flight_messages",
    "Messages this process handles at most at once (its concurrency limit).",
    ["consumer"],
)
REDECLARED = Counter(
    "chatbot_jetstream_redeclared_total",
    "Times this process found declared streams, consumers or buckets missing on the server "
    "(a NATS back on an empty store) and declared them again.",
)
WRITES_REFUSED = Counter(
    "chatbot_jetstream_writes_refused_total",
    "Writes JetStream refused to store: insufficient resources (the store is full) or a "
    "stream's limit of messages or bytes.",
)


StartHook = Callable[[ServiceSettings], None]
"""Creates a service's settings-dependent series; must accept any service's settings."""

_START_HOOKS: list[StartHook] = []


def at_start(hook: StartHook) -> StartHook:
    """Register ``hook`` to run when a worker app starts (usable as a decorator)."""
    _START_HOOKS.append(hook)
    return hook


def run_start_hooks(settings: ServiceSettings) -> None:
    """Run every registered hook with the starting service's settings."""
    for hook in _START_HOOKS:
        hook(settings)


def exposition() -> bytes:
    """The process's metrics in the Prometheus text format (what ``/metrics`` answers)."""
    return generate_latest()


class ConsumerLagReporter:
    """Copies a durable consumer's pending counts from NATS into gauges every ``interval``.

    One small ``consumer_info`` request per interval and replica; a failed request is logged
    and tried again at the next tick, keeping the last values.
    """

    def __init__(self, js: JetStreamContext, consumer: Consumer, *, interval: float) -> None:
        self._js = js
        self._consumer = consumer
        self._interval = interval
        self._pending = CONSUMER_PENDING.labels(consumer.durable)
        self._ack_pending = CONSUMER_ACK_PENDING.labels(consumer.durable)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.updated = asyncio.Event()
        """Set after each successful refresh (tests wait on it)."""

    def start(self) -> None:
        """Refresh now and then every ``interval`` seconds, until :meth:`stop`."""
        self._task = asyncio.create_task(self._run(), name="consumer-lag")

    async def stop(self) -> None:
        """Stop refreshing at once (a request in flight is abandoned: NATS may be down)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})

    async def refresh(self) -> None:
        """Ask NATS for the consumer's counts once and set the gauges."""
        info = await self._js.consumer_info(
            self._consumer.stream.name, self._consumer.durable, timeout=self._interval
        )
        self._pending.set(info.num_pending or 0)
        self._ack_pending.set(info.num_ack_pending or 0)
        self.updated.set()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh()
            except (NatsError, TimeoutError, OSError) as exc:
                log.debug("consumer info failed (%s); the lag gauges keep their values", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
