"""An open-loop HTTP/1.1 load generator: requests leave on schedule, whatever the answers do.

Each request, built and signed before the run, goes out at its scheduled time and its latency
counts from then; the generator's own delay is recorded as lag. Why open loop, and why a
generator of our own: docs/performance.md (its opening, and "Why a generator of our own").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import cast

import uvloop

__all__ = ["OpenLoop", "Run", "http_post", "run_apart"]

_HEAD_END = b"\r\n\r\n"
_LENGTH = b"content-length:"


def http_post(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """One complete HTTP/1.1 POST, ready to write to a keep-alive connection."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Run:
    """What happened to each request of one run; times are seconds after the run's start.

    ``sent`` and ``done`` are NaN for a request that never left or was never answered;
    ``status`` is 0 for one without an answer (timed out, or its connection was lost).
    ``started_wall`` is the wall clock (``time.time()``) of offset 0, to compare with times
    other processes of this machine record.
    """

    scheduled: Sequence[float]
    sent: list[float]
    done: list[float]
    status: list[int]
    started_wall: float = 0.0
    connections: int = 0
    queued: int = 0
    connect_errors: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    def timed(self, after: float = 0.0) -> list[tuple[float, float]]:
        """(scheduled time, seconds from then to the answer) of each answered request scheduled
        at ``after`` or later."""
        return [
            (at, done - at)
            for at, done, status in zip(self.scheduled, self.done, self.status, strict=True)
            if at >= after and status and not math.isnan(done)
        ]

    def latencies(self, after: float = 0.0) -> list[float]:
        return [seconds for _, seconds in self.timed(after)]

    def lags(self, after: float = 0.0) -> list[float]:
        """Seconds each request left after its scheduled time (the generator's own delay)."""
        return [
            sent - at
            for at, sent in zip(self.scheduled, self.sent, strict=True)
            if at >= after and not math.isnan(sent)
        ]

    def acknowledged(self) -> list[int]:
        """The indexes of the requests answered 200, in the order their answers arrived."""
        answered = [i for i, status in enumerate(self.status) if status == 200]
        return sorted(answered, key=lambda i: self.done[i])

    def statuses(self, after: float = 0.0) -> dict[int, int]:
        """How many requests got each HTTP status (0: no answer)."""
        counts: dict[int, int] = {}
        for at, status in zip(self.scheduled, self.status, strict=True):
            if at >= after:
                counts[status] = counts.get(status, 0) + 1
        return counts

    @property
    def cpu_share(self) -> float:
        """The generator process's CPU use during the run, in cores (1.0 = one busy core)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time, as a webhook caller does."""

    def __init__(self, pool: OpenLoop) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.current = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.pool.ready(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.current >= 0:
            end = self.buffer.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            start = head.find(_LENGTH) + len(_LENGTH)
            stop = head.find(b"\r\n", start)
            length = int(head[start : stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            status = int(self.buffer[9:12])
            del self.buffer[: end + 4 + length]
            self.pool.answered(self, status, b"connection: close" in head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class OpenLoop:
    """Sends pre-built requests to one server at scheduled offsets, over pooled connections.

    A request due while every connection is busy opens another, up to ``max_connections``;
    past that it waits for the first free one (counted in ``Run.queued``). Requests still
    unanswered ``timeout`` seconds after the last one was scheduled count as unanswered.
    """

    def __init__(
        self, host: str, port: int, *, max_connections: int = 2000, timeout: float = 15.0
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.timeout = timeout
        self._requests: Sequence[bytes] = ()
        self._run = Run((), [], [], [])
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._waiting: deque[int] = deque()
        self._opening = 0
        self._outstanding = 0
        self._start = 0.0
        self._closed = False
        self._drained = asyncio.Event()
        self._connecting: set[asyncio.Task[None]] = set()

    async def run(
        self, requests: Sequence[bytes], scheduled: Sequence[float], *, warm: int = 16
    ) -> Run:
        """Send ``requests[i]`` at ``scheduled[i]`` seconds (ascending) after the start."""
        if len(requests) != len(scheduled):
            raise ValueError("one scheduled time per request")
        loop = asyncio.get_running_loop()
        count = len(requests)
        nan = math.nan
        self._requests = requests
        self._run = run = Run(scheduled, [nan] * count, [nan] * count, [0] * count)
        self._outstanding = count
        self._closed = False
        self._drained.clear()
        await asyncio.gather(*(self._connect(loop) for _ in range(warm)))
        cpu = time.process_time()
        clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution
        self._start = start = clock() + 0.05
        run.started_wall = time.time() + (start - clock())
        index = 0
        while index < count:
            now = clock()
            due = start + scheduled[index]
            if due > now:
                # Never less than 1 ms: uvloop's timers have millisecond resolution, so a
                # shorter sleep returns at once and the loop would spin. Being late is honest
                # (it shows as lag and counts in the latency); being early would flatter.
                await asyncio.sleep(max(due - now, 0.001))
                continue
            while index < count and start + scheduled[index] <= now:
                self._send(index, loop)
                index += 1
        if self._outstanding:
            remaining = start + (scheduled[-1] if count else 0) + self.timeout - clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), max(remaining, 0.0))
        run.wall_seconds = clock() - start
        run.cpu_seconds = time.process_time() - cpu
        self.close()
        return run

    def close(self) -> None:
        self._closed = True
        for connection in list(self._open):
            if connection.transport is not None:
                connection.transport.abort()
        self._open.clear()
        self._idle.clear()

    def _send(self, index: int, loop: asyncio.AbstractEventLoop) -> None:
        if self._idle:
            self._write(self._idle.pop(), index, time.perf_counter())
            return
        self._waiting.append(index)
        if len(self._open) + self._opening < self.max_connections:
            self._open_one(loop)
        else:
            self._run.queued += 1

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        self._opening += 1
        try:
            await loop.create_connection(lambda: _Connection(self), self.host, self.port)
            self._run.connections += 1
        except OSError:
            self._run.connect_errors += 1
        finally:
            self._opening -= 1

    def _write(self, connection: _Connection, index: int, now: float) -> None:
        assert connection.transport is not None
        connection.current = index
        self._run.sent[index] = now - self._start
        connection.transport.write(self._requests[index])

    def _next(self, connection: _Connection) -> None:
        """Give a free connection the oldest waiting request, or park it."""
        if self._waiting:
            self._write(connection, self._waiting.popleft(), time.perf_counter())
        else:
            self._idle.append(connection)

    def ready(self, connection: _Connection) -> None:
        if self._closed:
            assert connection.transport is not None
            connection.transport.abort()
            return
        self._open.add(connection)
        self._next(connection)

    def answered(self, connection: _Connection, status: int, close: bool) -> None:
        index, connection.current = connection.current, -1
        self._run.done[index] = time.perf_counter() - self._start
        self._run.status[index] = status
        self._finished()
        if close and connection.transport is not None:
            connection.transport.close()
        else:
            self._next(connection)

    def lost(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        if connection.current >= 0:
            connection.current = -1
            self._finished()
        if self._waiting and not self._closed and not self._opening:
            self._open_one(asyncio.get_running_loop())

    def _open_one(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._connect(loop))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    def _finished(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0:
            self._drained.set()


def _run_here(
    host: str, port: int, requests: Sequence[bytes], scheduled: Sequence[float], out: Connection
) -> None:
    out.send(uvloop.run(OpenLoop(host, port).run(requests, scheduled)))
    out.close()


async def run_apart(
    host: str, port: int, requests: Sequence[bytes], scheduled: Sequence[float]
) -> Run:
    """:meth:`OpenLoop.run` in a process of its own, so nothing else the benchmark does
    (reading replies, sampling) can delay a send; returns when every answer is in."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_run_here, args=(host, port, requests, scheduled, sender), name="open-loop"
    )
    child.start()
    sender.close()
    try:
        run: Run = await asyncio.get_running_loop().run_in_executor(None, receiver.recv)
    finally:
        child.join(30)
    return run
