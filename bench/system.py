"""The system under test: started as `make run` starts it, driven, sampled and read back.

Each scenario gets its own fresh stack, so none inherits another's streams or warm caches.
While the open-loop generator sends, a sampler reads each process's CPU and memory from /proc
and the gauges asked for, and the fake Twilio's accepted messages are read as they come.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.loadgen import Run, run_apart
from bench.profile import profiling
from bench.report import RESULTS
from bench.stats import Accounting, Planned, Reply, account, tokens_in
from bench.webhooks import signed_requests
from chatbot_devstack import (
    PARTS,
    LocalStack,
    ManagedProcess,
    Ports,
    ProcessSpec,
    StackDriver,
    started_stack,
    user_number,
)

__all__ = [
    "BENCH_ENVIRONMENT",
    "Driven",
    "ReplyLog",
    "Sample",
    "Sampler",
    "bench_stack",
    "drive",
    "gauge",
    "own_core",
    "process",
    "quiet",
    "usage",
]

BENCH_ENVIRONMENT = {
    "LOG_LEVEL": "WARNING",
    # The sender's per-number token bucket models WhatsApp's limit (default 10/s), not a cost of
    # ours: with the one business number every scenario uses it would cap replies at 10/s.
    "SEND_RATE_PER_SECOND": "100000",
    "SEND_RATE_BURST": "1000",
}
"""Settings every benchmark stack gets on top of the local defaults."""

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


_ERRORS: Counter[str] = Counter()
_SHOWN_ERRORS = 3


def quiet(name: str, line: str) -> None:
    """A process output sink that shows a process's first few errors (the runs log at WARNING;
    an overloaded stack can log thousands of timeouts, which would bury the results)."""
    if '"level": "ERROR"' in line or "Traceback" in line:
        _ERRORS[name] += 1
        if _ERRORS[name] <= _SHOWN_ERRORS:
            print(f"    {name}: {line[-1500:]}", file=sys.stderr)
        elif _ERRORS[name] == _SHOWN_ERRORS + 1:
            print(f"    {name}: more errors, not shown", file=sys.stderr)


# A scenario runs its own event loop (uvloop) inside these, so they start and stop the
# processes on short loops of their own; the processes' output threads need none.


@contextmanager
def bench_stack(
    *parts: str, environment: Mapping[str, str] | None = None, ports: Ports | None = None
) -> Iterator[LocalStack]:
    """A fresh stack (of ``parts``, by default all; on ``ports``, by default free ones) with
    the benchmark settings plus ``environment``."""
    env = {"PATH": os.environ.get("PATH", ""), **BENCH_ENVIRONMENT, **(environment or {})}
    with started_stack(environment=env, sink=quiet, parts=parts or PARTS, ports=ports) as stack:
        yield stack


@contextmanager
def process(
    name: str, argv: list[str], env: Mapping[str, str], ready_url: str
) -> Iterator[ManagedProcess]:
    """One process that is not part of the stack, with ``env`` added to this one's, ready when
    ``ready_url`` is 200."""
    running = ManagedProcess(ProcessSpec(name, argv, {**os.environ, **env}, ready_url), quiet)
    running.start()
    try:
        asyncio.run(running.ready(30))
        yield running
    finally:
        asyncio.run(running.stop())


def _pin(pid: int, cpus: set[int]) -> None:
    """Keep every thread of process ``pid`` on ``cpus``."""
    for thread in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(thread.name), cpus)


@contextmanager
def own_core(pid: int, *helpers: int) -> Iterator[str]:
    """Give process ``pid`` (the server under test) the last CPU to itself; this process, the
    load generators it starts meanwhile and the ``helpers`` (its nats-server) share the others.

    On two cores, a server sharing both with its load generator and nats-server pays for their
    preemptions and for the caches they evict, which a real deployment does not: they run on
    other machines. Yields how the CPUs were shared, for the report.
    """
    available = os.sched_getaffinity(0)
    if len(available) < 2:
        yield "not pinned: one CPU"
        return
    server = {max(available)}
    others = available - server
    _pin(pid, server)
    for helper in helpers:
        _pin(helper, others)
    os.sched_setaffinity(0, others)
    try:
        yield f"server alone on CPU {max(server)}; generator and nats-server on {sorted(others)}"
    finally:
        os.sched_setaffinity(0, available)


def gauge(text: str, name: str) -> float | None:
    """The value of a metric in a Prometheus text page, summed over its labelled series (no
    full parse: it is sampled several times a second while the service is under load)."""
    found = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return sum(float(value) for value in found) if found else None


def usage(pid: int) -> tuple[float, int] | None:
    """CPU seconds used so far and resident bytes of a process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        resident = Path(f"/proc/{pid}/statm").read_text().split()[1]
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS, int(resident) * _PAGE


@dataclass(frozen=True)
class Sample:
    """One look at the processes: wall clock, CPU seconds and RSS bytes by name, gauges."""

    at: float
    cpu: dict[str, float]
    rss: dict[str, int]
    gauges: dict[str, float]


@dataclass
class Sampler:
    """Samples each process's CPU and memory, and the gauges asked for, every ``every`` s.

    ``gauges`` maps a label to (metrics URL, metric name).
    """

    pids: dict[str, int]
    gauges: dict[str, tuple[str, str]] = field(default_factory=dict)
    every: float = 0.25
    samples: list[Sample] = field(default_factory=list)

    async def run(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while True:
            await self.sample(http)
            try:
                await asyncio.wait_for(stop.wait(), self.every)
                await self.sample(http)
                return
            except TimeoutError:
                pass

    async def sample(self, http: httpx.AsyncClient) -> None:
        cpu, rss = {}, {}
        for name, pid in self.pids.items():
            if (used := usage(pid)) is not None:
                cpu[name], rss[name] = used
        values = {}
        for label, (url, metric) in self.gauges.items():
            try:
                value = gauge((await http.get(url)).text, metric)
            except httpx.HTTPError:
                value = None
            if value is not None:
                values[label] = value
        self.samples.append(Sample(time.time(), cpu, rss, values))

    def cpu_used(self, since: float, until: float) -> dict[str, float]:
        """CPU seconds each process used between two wall-clock times (nearest samples)."""
        inside = [s for s in self.samples if since <= s.at <= until] or self.samples
        first, last = inside[0], inside[-1]
        return {name: round(last.cpu[name] - first.cpu.get(name, 0.0), 3) for name in last.cpu}


@dataclass
class ReplyLog:
    """The fake Twilio's accepted messages, read in pieces (`after=`) as they come; the first
    ``skip`` (a warm-up's) left out."""

    driver: StackDriver
    skip: int = 0
    replies: list[Reply] = field(default_factory=list)
    answered: set[int] = field(default_factory=set)

    async def read(self) -> int:
        """Read the records added since the last read; 0 when the sandbox did not answer in
        time (an overloaded sandbox is read again a second later, not given up on)."""
        try:
            after = self.skip + len(self.replies)
            records = await self.driver.sandbox_records("twilio/messages", after=after)
        except httpx.TimeoutException:
            return 0
        new = [
            Reply(
                at=datetime.fromisoformat(record["received_at"]).timestamp(),
                to=record["to"] or "",
                body=record["body"] or "",
            )
            for record in records
        ]
        self.replies += new
        for reply in new:
            self.answered.update(tokens_in(reply.body))
        return len(new)

    async def follow(
        self, expected: set[int], sending: asyncio.Event, *, quiet: float, grace: float
    ) -> None:
        """Read until every expected message is answered (then ``grace`` more seconds, to see
        late duplicates), or until nothing new came for ``quiet`` s after the last send."""
        last_news = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            if await self.read():
                last_news = time.monotonic()
            if expected <= self.answered:
                await asyncio.sleep(grace)
                await self.read()
                return
            if sending.is_set() and time.monotonic() - last_news > quiet:
                return


@dataclass
class Driven:
    """One open-loop run through the whole stack and what came back."""

    planned: Sequence[Planned]
    run: Run
    accounting: Accounting
    replies: list[Reply]
    sampler: Sampler
    profile: dict[str, Any]

    def timed(self, after: float = 0.0) -> list[tuple[float, float]]:
        """(scheduled send, seconds until its reply reached the fake Twilio) of each answered
        message scheduled at ``after`` or later."""
        answered = self.accounting.answered
        start = self.run.started_wall
        return [
            (message.at, answered[message.number] - (start + message.at))
            for message in self.planned
            if message.at >= after and message.number in answered
        ]

    def latencies(self, after: float = 0.0) -> list[float]:
        return [seconds for _, seconds in self.timed(after)]

    def cpu_used(self) -> dict[str, float]:
        """CPU seconds each process used from the first send to the last reply."""
        last = max((reply.at for reply in self.replies), default=time.time())
        return self.sampler.cpu_used(self.run.started_wall, last)

    def accounting_summary(self) -> dict[str, Any]:
        """The accounting for the JSON file: counts, the first lost numbers, and the first
        duplicated ones with each copy's arrival (seconds after the start) and text."""
        accounting = self.accounting
        return {
            "messages": len(self.planned),
            "answered": len(accounting.answered),
            "turns": accounting.turns,
            "lost": len(accounting.lost),
            "duplicates": len(accounting.duplicates),
            "unmatched": accounting.unmatched,
            "misdirected": accounting.misdirected,
            "order_violations": accounting.order_violations,
            "first_lost": accounting.lost[:20],
            "first_duplicates": {
                number: [
                    (round(copy.at - self.run.started_wall, 3), copy.body[:40])
                    for copy in accounting.copies[number]
                ]
                for number in accounting.duplicates[:20]
            },
        }


PROFILED = ("ingress", "conversation", "sender", "sandbox")
"""The Python processes `--profile` records (nats-server is Go)."""


async def drive(
    stack: LocalStack,
    planned: Sequence[Planned],
    *,
    scenario: str,
    profile: bool = False,
    quiet: float = 15.0,
    grace: float = 2.0,
    gauges: dict[str, tuple[str, str]] | None = None,
    sample_every: float = 0.25,
) -> Driven:
    """Send ``planned`` as signed webhooks on schedule and collect every reply.

    The requests are built and signed first, outside the measured run. ``gauges`` maps a label
    to (process, metric) to sample. With ``profile``, py-spy records the Python services
    meanwhile (see bench/profile.py).
    """
    base = stack.env["PUBLIC_BASE_URL"]
    requests = signed_requests(base, planned, stack.env["TWILIO_AUTH_TOKEN"])
    target = urlsplit(base)
    pids = {name: p.pid for name, p in stack.processes.items() if p.pid is not None}
    scraped = {
        label: (stack.url(name) + "/metrics", metric)
        for label, (name, metric) in (gauges or {}).items()
    }
    sampler = Sampler({**pids, "bench": os.getpid()}, scraped, sample_every)
    sending, stop = asyncio.Event(), asyncio.Event()
    with ExitStack() as context:
        summaries: dict[str, Any] = {}
        if profile:
            spied = {name: pid for name, pid in pids.items() if name in PROFILED}
            summaries = context.enter_context(profiling(spied, RESULTS, scenario))
        async with httpx.AsyncClient(timeout=30) as http:
            log = ReplyLog(StackDriver(stack, http))
            sampling = asyncio.create_task(sampler.run(http, stop))
            following = asyncio.create_task(
                log.follow({m.number for m in planned}, sending, quiet=quiet, grace=grace)
            )
            run = await run_apart(
                target.hostname or "127.0.0.1",
                target.port or 80,
                requests,
                [message.at for message in planned],
            )
            sending.set()
            await following
            stop.set()
            await sampling
    users = {message.user for message in planned}
    accepted = [planned[index].number for index in run.acknowledged()]
    accounting = account(planned, log.replies, {u: user_number(u) for u in users}, accepted)
    return Driven(planned, run, accounting, log.replies, sampler, summaries)
