"""Twilio's side of the webhook, open loop: each POST leaves on schedule, is given up after
Twilio's read timeout, and is tried again only when the webhook URL's overrides say so.

Unlike bench/loadgen.py, it does not wait for every answer. Twilio's rules, from its
connection-overrides page, and how they are played: docs/performance.md (versus-seed, Twilio).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import uvloop

__all__ = ["Attempt", "Calling", "Calls", "Overrides", "calling", "failure"]

FAILURES = frozenset({"ct", "rt", "4xx", "5xx"})
"""The kinds of failure a retry policy (``rp``) can name; ``all`` is every one."""

Outcome = int | str
"""An attempt's HTTP status, or ``ct`` (could not connect), ``rt`` (no answer within the read
timeout: Twilio's error 11200) or ``cut`` (the connection closed before a whole answer)."""

_TOKEN = re.compile(rb"I-Twilio-Idempotency-Token: [0-9a-f-]{36}")


def failure(outcome: Outcome) -> str | None:
    """The kind of failure an attempt ended in, as the retry policy names it; None for an
    answer Twilio takes (2xx, 3xx)."""
    if isinstance(outcome, str):
        return outcome
    if outcome >= 500:
        return "5xx"
    if outcome >= 400:
        return "4xx"
    return None


@dataclass(frozen=True)
class Overrides:
    """Twilio's connection overrides, in seconds; the defaults are Twilio's."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_time: float = 15.0
    retries: int = 1
    policy: frozenset[str] = frozenset({"ct"})

    @classmethod
    def parse(cls, fragment: str) -> Overrides:
        """The overrides of a webhook URL's fragment (``#rt=5000&rc=2&rp=rt,5xx``); Twilio's
        defaults for what it leaves out."""
        pairs = dict(pair.split("=", 1) for pair in fragment.lstrip("#").split("&") if pair)
        if unknown := set(pairs) - {"ct", "rt", "tt", "rc", "rp", "e", "sni"}:
            raise ValueError(f"not a connection override: {', '.join(sorted(unknown))}")
        policy = set(pairs.get("rp", "ct").split(","))
        if "all" in policy:
            policy = set(FAILURES)
        if unknown := policy - FAILURES:
            raise ValueError(f"not a retry policy: {', '.join(sorted(unknown))}")
        default = cls()
        return cls(
            connect_timeout=float(pairs.get("ct", default.connect_timeout * 1000)) / 1000,
            read_timeout=float(pairs.get("rt", default.read_timeout * 1000)) / 1000,
            total_time=float(pairs.get("tt", default.total_time * 1000)) / 1000,
            retries=int(pairs.get("rc", default.retries)),
            policy=frozenset(policy),
        )

    def retry(self, outcome: Outcome, attempt: int, elapsed: float) -> bool:
        """Whether Twilio tries again after attempt ``attempt`` (0: the first) ended in
        ``outcome``, ``elapsed`` s after the first began."""
        return (
            attempt < self.retries and elapsed < self.total_time and failure(outcome) in self.policy
        )


@dataclass(frozen=True)
class Attempt:
    """One POST of message ``message`` (an index of the run's requests): when it left and
    ended (seconds after the run's start) and how."""

    message: int
    attempt: int
    sent: float
    ended: float
    outcome: Outcome


@dataclass
class Calls:
    """Every attempt of one run. ``started_wall`` is the wall clock of offset 0."""

    scheduled: Sequence[float]
    attempts: list[Attempt] = field(default_factory=list)
    started_wall: float = 0.0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    def finals(self) -> dict[int, Attempt]:
        """Each message's last attempt: how Twilio saw the webhook end."""
        return {attempt.message: attempt for attempt in sorted(self.attempts, key=_order)}

    def waits(self, status: int | None = None) -> list[float]:
        """Seconds Twilio waited on each attempt, until the answer or until it gave up (a
        timeout counts as its limit); only the answers with ``status`` when given."""
        return [a.ended - a.sent for a in self.attempts if status is None or a.outcome == status]

    def outcomes(self) -> Counter[str]:
        """How many attempts ended each way (statuses as text)."""
        return Counter(str(attempt.outcome) for attempt in self.attempts)

    def timeouts(self) -> int:
        """Attempts Twilio gave up on after its read timeout (error 11200)."""
        return sum(1 for attempt in self.attempts if attempt.outcome == "rt")

    def lags(self) -> list[float]:
        """Seconds each first attempt left after its scheduled time (the caller's own delay)."""
        return [a.sent - self.scheduled[a.message] for a in self.attempts if a.attempt == 0]


def _order(attempt: Attempt) -> tuple[int, int]:
    return attempt.message, attempt.attempt


class _Caller:
    """Sends pre-built requests to one server at scheduled offsets, as Twilio would."""

    def __init__(self, host: str, port: int, overrides: Overrides) -> None:
        self.host = host
        self.port = port
        self.overrides = overrides
        self.calls = Calls(())
        self._start = 0.0

    async def run(
        self,
        requests: Sequence[bytes],
        scheduled: Sequence[float],
        started: Callable[[float], None],
    ) -> Calls:
        clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution
        cpu = time.process_time()
        self._start = start = clock() + 0.05
        self.calls = Calls(scheduled, started_wall=time.time() + (start - clock()))
        started(self.calls.started_wall)
        calls: set[asyncio.Task[None]] = set()
        for index, at in enumerate(scheduled):
            if (wait := start + at - clock()) > 0:
                await asyncio.sleep(max(wait, 0.001))  # see loadgen: never shorter than 1 ms
            calls.add(asyncio.create_task(self._call(requests[index], index)))
        await asyncio.gather(*calls)
        self.calls.wall_seconds = clock() - start
        self.calls.cpu_seconds = time.process_time() - cpu
        return self.calls

    async def _call(self, request: bytes, index: int) -> None:
        first = time.perf_counter()
        for attempt in range(self.overrides.retries + 1):
            if attempt:
                request = _TOKEN.sub(_token(), request)
            sent = time.perf_counter()
            outcome = await self._attempt(request, first + self.overrides.total_time)
            ended = time.perf_counter()
            self.calls.attempts.append(
                Attempt(index, attempt, sent - self._start, ended - self._start, outcome)
            )
            if not self.overrides.retry(outcome, attempt, ended - first):
                return

    async def _attempt(self, request: bytes, deadline: float) -> Outcome:
        """One POST on a connection of its own, within the timeouts and the total time left."""
        overrides = self.overrides
        try:
            async with asyncio.timeout(min(overrides.connect_timeout, _left(deadline))):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError):
            return "ct"
        try:
            writer.write(request)
            async with asyncio.timeout(min(overrides.read_timeout, _left(deadline))):
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_content_length(head))
            return int(head[9:12])
        except TimeoutError:
            return "rt"
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return "cut"
        finally:
            writer.transport.abort()  # hang up at once, as Twilio does when it gives up


def _token() -> bytes:
    return f"I-Twilio-Idempotency-Token: {uuid.uuid4()}".encode()


def _left(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 0.0)


def _content_length(head: bytes) -> int:
    found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return int(found.group(1)) if found else 0


def _call_here(
    host: str,
    port: int,
    overrides: Overrides,
    requests: Sequence[bytes],
    scheduled: Sequence[float],
    out: Connection,
) -> None:
    caller = _Caller(host, port, overrides)
    out.send(uvloop.run(caller.run(requests, scheduled, out.send)))
    out.close()


@dataclass(frozen=True)
class Calling:
    """A run under way: the wall clock of its offset 0, and its attempts once all are done."""

    started_wall: float
    finished: asyncio.Task[Calls]


@contextlib.asynccontextmanager
async def calling(
    host: str,
    port: int,
    overrides: Overrides,
    requests: Sequence[bytes],
    scheduled: Sequence[float],
) -> AsyncIterator[Calling]:
    """Send ``requests[i]`` at ``scheduled[i]`` s from a process of its own, so that nothing
    else the benchmark does (reading replies, killing a process) can delay a send. Yields once
    the caller's clock has started; leaves once every attempt is done."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_call_here,
        args=(host, port, overrides, requests, scheduled, sender),
        name="twilio-caller",
    )
    child.start()
    sender.close()

    async def receive() -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, receiver.recv)

    try:
        started_wall: float = await receive()
        run = Calling(started_wall, asyncio.create_task(receive()))
        yield run
        await run.finished
    finally:
        if child.is_alive():
            child.terminate()
        await asyncio.to_thread(child.join, 30)
