"""The pull-consumer loop shared by the worker services: fetch what free slots allow, one task
per message, the handler acks, a failure comes back with a growing delay (docs/architecture.md,
*The worker loop*)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .bus import MSG_ID_HEADER
from .metrics import (
    CONSUMER_IN_FLIGHT,
    CONSUMER_MAX_IN_FLIGHT,
    HANDLE_OUTCOMES,
    HANDLE_SECONDS,
    HANDLED,
    ConsumerLagReporter,
)
from .provisioning import Provisioner, is_refusal
from .topology import Consumer
from .tracing import context_from_headers, messaging_attributes

__all__ = ["LAG_INTERVAL", "ConsumerLoop", "Handler", "redelivery_delay"]

log = logging.getLogger(__name__)

Handler = Callable[[Msg], Awaitable[None]]

_FETCH_WAIT = 1.0
"""Seconds an idle loop's pull request waits for the next message (it returns on arrival)."""
_DRAIN_WAIT = 0.02
"""Seconds a busy loop's batch pull may wait to fill up: a longer batch wait holds the
messages already there until the batch is full or the wait ends (a 1 s sawtooth in latency)."""
_MAX_BATCH = 64
LAG_INTERVAL = 5.0
"""Seconds between two reads of the consumer's pending counts from NATS."""


def redelivery_delay(deliveries: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds before the ``deliveries``-th delivery of a message is retried."""
    return float(min(cap, base * 2 ** max(0, deliveries - 1)))


class ConsumerLoop:
    """Feeds messages of one durable pull consumer to a handler, at most ``limit`` at a time."""

    def __init__(
        self,
        js: JetStreamContext,
        consumer: Consumer,
        handler: Handler,
        *,
        limit: int,
        lag_interval: float = LAG_INTERVAL,
        provisioner: Provisioner | None = None,
    ) -> None:
        self._js = js
        self._provisioner = provisioner
        self._consumer = consumer
        self._handler = handler
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._tracer = trace.get_tracer_provider().get_tracer("chatbot.consumer")
        self.lag = ConsumerLagReporter(js, consumer, interval=lag_interval)
        name = consumer.durable
        # Every series this loop can write exists from the start: dashboards show zeros, and
        # increase() sees a counter's first step.
        for outcome in HANDLE_OUTCOMES:
            HANDLED.labels(name, outcome)
        HANDLE_SECONDS.labels(name)
        CONSUMER_MAX_IN_FLIGHT.labels(name).set(limit)
        # Read at scrape time: nothing to update per message.
        CONSUMER_IN_FLIGHT.labels(name).set_function(lambda: len(self._tasks))

    async def start(self) -> None:
        """Bind to the provisioned durable consumer and start fetching."""
        self._subscription = await self._js.pull_subscribe_bind(
            self._consumer.durable, self._consumer.stream.name
        )
        self._loop_task = asyncio.create_task(self._run(self._subscription), name="consumer-loop")
        self.lag.start()

    async def stop(self, timeout: float) -> None:
        """Stop fetching, give in-hand messages ``timeout`` seconds, then return the rest."""
        self._stopping.set()
        await self.lag.stop()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
                log.warning("returned %d unfinished messages to the stream", len(pending))
        if self._subscription is not None:
            # A pull subscription left open makes the connection's drain wait for ever.
            with contextlib.suppress(NatsError):
                await self._subscription.unsubscribe()

    async def _run(self, subscription: JetStreamContext.PullSubscription) -> None:
        failures = 0
        busy = False
        while not self._stopping.is_set():
            if len(self._tasks) >= self._limit:
                await self._until_slot_free_or_stopping()
                continue
            try:
                if busy:  # take what is there now, in one batch
                    batch = min(self._limit - len(self._tasks), _MAX_BATCH)
                    messages = await subscription.fetch(batch, timeout=_DRAIN_WAIT)
                else:  # wait for the next message, handed over the moment it arrives
                    messages = await subscription.fetch(1, timeout=_FETCH_WAIT)
            except TimeoutError:  # nothing to fetch in this wait (nats raises both kinds)
                busy = False
                continue
            except (NatsError, OSError) as exc:
                failures += 1
                log.warning("fetch failed (%s); retrying", type(exc).__name__)
                if self._provisioner is not None:
                    self._provisioner.note(exc)  # a consumer gone is declared again
                await self._pause(min(5.0, 0.2 * 2**failures))
                continue
            failures = 0
            busy = True
            for message in messages:
                task = asyncio.create_task(self._handle(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _until_slot_free_or_stopping(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({*self._tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _handle(self, message: Msg) -> None:
        """Run the handler inside a consumer span that continues the publisher's trace."""
        stream = self._consumer.stream
        with self._tracer.start_as_current_span(
            f"process {stream.prefix}",
            context=context_from_headers(message.headers),
            kind=SpanKind.CONSUMER,
            attributes=messaging_attributes(
                stream.prefix, "process", (message.headers or {}).get(MSG_ID_HEADER)
            )
            | {"messaging.consumer.group.name": self._consumer.durable},
        ):
            await self._run_handler(message)

    async def _run_handler(self, message: Msg) -> None:
        name = self._consumer.durable
        started = time.perf_counter()
        try:
            await self._handler(message)
            HANDLED.labels(name, "ok").inc()
        except asyncio.CancelledError:
            HANDLED.labels(name, "interrupted").inc()
            await self._give_back(message, delay=0.0)
            raise
        except Exception as exc:
            HANDLED.labels(name, "error").inc()
            if is_refusal(exc):  # the store is full: no traceback per message
                log.warning("jetstream refused a write (%s); the message will be redelivered", exc)
            else:
                log.exception("handler failed; the message will be redelivered")
            if self._provisioner is not None:
                self._provisioner.note(exc)
            await self._give_back(message, delay=redelivery_delay(message.metadata.num_delivered))
        finally:
            HANDLE_SECONDS.labels(name).observe(time.perf_counter() - started)

    @staticmethod
    async def _give_back(message: Msg, *, delay: float) -> None:
        try:
            await message.nak(delay=delay or None)
        except NatsError as exc:
            log.warning("could not nak (%r); the message returns after its ack wait", exc)
