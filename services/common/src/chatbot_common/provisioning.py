"""Keeping a service's JetStream parts declared, and knowing whether JetStream takes its writes.

A NATS server that comes back on an empty or lost volume has none of the streams, consumers
and buckets; a full one refuses writes. :class:`Provisioner` declares the parts at start, looks
for them every few seconds (and at once when an operation says one is missing), declares again
what is gone, and tells readiness what stops the service from working (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError

from .metrics import REDECLARED, WRITES_REFUSED
from .topology import Bucket, Consumer, Stream, provision

__all__ = [
    "CHECK_INTERVAL",
    "REFUSAL_MEMORY",
    "Provisioner",
    "Topology",
    "is_refusal",
    "says_missing",
]

log = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0
"""Seconds between two looks at the declared parts."""
REFUSAL_MEMORY = 15.0
"""Seconds a refused write keeps the service unready, unless a later write succeeds."""

_REFUSAL_CODES = frozenset({10023, 10077})
"""JetStream's "insufficient resources" (store full) and "maximum messages/bytes exceeded"."""


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` is JetStream refusing to store a write (full, or over a limit)."""
    return isinstance(error, APIError) and error.err_code in _REFUSAL_CODES


def says_missing(error: BaseException) -> bool:
    """Whether ``error`` means a declared part is gone (not a key: a missing key is data)."""
    if isinstance(error, NoRespondersError):  # a publish no stream takes
        return True
    return isinstance(error, NotFoundError) and not isinstance(error, KeyNotFoundError)


@dataclass(frozen=True)
class Topology:
    """The JetStream parts one service uses, provisioned at its start."""

    streams: tuple[Stream, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    buckets: tuple[Bucket, ...] = ()


class Provisioner:
    """Declares one service's topology, and declares again whatever the server has lost."""

    def __init__(
        self,
        js: JetStreamContext,
        topology: Topology,
        *,
        duplicate_window: float,
        replicas: int,
        interval: float = CHECK_INTERVAL,
    ) -> None:
        self._js = js
        self._topology = topology
        self._duplicate_window = duplicate_window
        self._replicas = replicas
        self._interval = interval
        self._look_now = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._missing: list[str] = []
        self._refused: tuple[float, str] | None = None

    async def declare(self) -> None:
        """Create or update every declared part (idempotent)."""
        topology = self._topology
        await provision(
            self._js,
            streams=topology.streams,
            consumers=topology.consumers,
            buckets=topology.buckets,
            duplicate_window=self._duplicate_window,
            replicas=self._replicas,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="provisioner")

    async def stop(self) -> None:
        """Stop looking at once (a look in flight is abandoned: NATS may be down)."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})

    def note(self, error: BaseException | None = None) -> None:
        """Note how a JetStream operation ended: ``None`` for done, else its error.

        A refused write makes the service unready for a while; an error that says a stream,
        consumer or bucket is missing has it looked for (and declared again) now.
        """
        if error is None:
            self._refused = None
        elif is_refusal(error):
            WRITES_REFUSED.inc()
            self._refused = (time.monotonic(), str(error))
        elif says_missing(error):
            self._look_now.set()

    @property
    def problem(self) -> str | None:
        """What keeps JetStream from taking this service's work, or ``None``."""
        if self._missing:
            return f"jetstream lacks {', '.join(self._missing)}"
        if self._refused is not None:
            when, error = self._refused
            if time.monotonic() - when < REFUSAL_MEMORY:
                return f"jetstream refuses writes: {error}"
        return None

    async def check(self) -> None:
        """Find the declared parts the server lacks, and declare them again."""
        self._missing = await self._lacking()
        if not self._missing:
            return
        log.warning(
            "jetstream lost parts of the topology; declaring them again",
            extra={"missing": self._missing},
        )
        REDECLARED.inc()
        await self.declare()
        self._missing = await self._lacking()

    async def _lacking(self) -> list[str]:
        topology = self._topology
        lacking: list[str] = []
        names = [s.name for s in topology.streams] + [f"KV_{b.name}" for b in topology.buckets]
        for name in names:
            if not await self._exists(self._js.stream_info(name)):
                lacking.append(name)
        for consumer in topology.consumers:
            info = self._js.consumer_info(consumer.stream.name, consumer.durable)
            if not await self._exists(info):
                lacking.append(f"consumer {consumer.durable}")
        return lacking

    @staticmethod
    async def _exists(lookup: Awaitable[object]) -> bool:
        try:
            await lookup
        except NotFoundError:
            return False
        return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._look_now.wait(), timeout=self._interval)
            self._look_now.clear()
            if self._stopping.is_set():
                return
            try:
                await self.check()
            except (NatsError, OSError, TimeoutError) as exc:
                # Disconnected or slow: readiness says so already; look again next time.
                log.debug("topology check failed: %r", exc)
