"""`make bench-conversation`: turns in flight, replies per second, and the service's own time.

One `chatbot-conversation`, a nats-server and the sandbox's responder, each its own process; this
script plays ingress and the sender. It isolates the service, where the default scenarios measure
the whole stack. The phases and what each reads: docs/conversation.md (Benchmark).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client.parser import text_string_to_metric_families

from bench.report import Options, Report
from bench.stats import Check, percentile
from bench.system import bench_stack
from chatbot_common.bus import publish
from chatbot_common.contracts import InboundMessage, OutboundMessage, decode, utcnow
from chatbot_common.topology import INBOUND, OUTBOUND
from chatbot_common.userkey import user_key
from chatbot_devstack import (
    ACCOUNT_SID,
    BUSINESS_NUMBER,
    Ports,
    example_tools_file,
    user_number,
)

SECRET = "bench-user-key-secret"
TARGETS = {"in_flight": 500, "replies_per_second": 200, "own_ms_median": 5.0}


@dataclass
class Traffic:
    """Messages sent (by MessageSid, with when) and the replies that came back."""

    sent: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    reply_times: list[float] = field(default_factory=list)
    answered: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_outbound(self, msg: Msg) -> None:
        reply = decode(OutboundMessage, msg.data)
        if reply.kind != "text":
            return
        now = time.perf_counter()
        self.reply_times.append(now)
        for sid in reply.in_reply_to:
            if (sent := self.sent.pop(sid, None)) is not None:
                self.latencies.append(now - sent)
                self.answered += 1
        self.changed.set()

    async def until_answered(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while self.answered < count:
                self.changed.clear()
                await self.changed.wait()


async def send(js: JetStreamContext, traffic: Traffic, number: int, body: str) -> None:
    sid = "SM" + uuid.uuid4().hex
    message = InboundMessage(
        message_sid=sid,
        account_sid=ACCOUNT_SID,
        from_=user_number(number),
        to=BUSINESS_NUMBER,
        body=body,
        received_at=utcnow(),
    )
    traffic.sent[sid] = time.perf_counter()
    subject = INBOUND.subject(user_key(SECRET, BUSINESS_NUMBER, user_number(number)))
    await publish(js, subject, message, msg_id=sid, timeout=10)


async def scrape(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """The service's metrics as {name: value} and {histogram: [(le, cumulative count)]}."""
    text = (await http.get(url)).text
    values: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                values.setdefault(sample.name, []).append(
                    (float(sample.labels["le"]), sample.value)
                )
            elif not sample.labels:
                values[sample.name] = sample.value
    return values


def histogram_median(before: dict[str, Any], after: dict[str, Any], name: str) -> float:
    """The median of what a histogram observed between two scrapes (linear in the bucket)."""
    buckets = [
        (le, count - old) for (le, count), (_, old) in zip(after[name], before[name], strict=True)
    ]
    half = buckets[-1][1] / 2
    lower, below = 0.0, 0.0
    for le, cumulative in buckets:
        if cumulative >= half:
            share = (half - below) / (cumulative - below) if cumulative > below else 0.0
            return float(lower + (le - lower) * share)
        lower, below = le, cumulative
    return float("nan")


def cpu_per_turn(before: dict[str, Any], after: dict[str, Any], turns: int) -> float | None:
    """CPU milliseconds the service process used per turn (Linux exports the counter)."""
    if "process_cpu_seconds_total" not in after:
        return None
    used = float(after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"])
    return round(used * 1000 / turns, 2)


def processes_cpu() -> dict[str, float]:
    """CPU seconds used so far by this script and each of its child processes (Linux only)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"bench": time.process_time()}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == os.getpid():
            used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


async def connect(nats_url: str, traffic: Traffic) -> tuple[NATS, JetStreamContext]:
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await js.subscribe(f"{OUTBOUND.prefix}.>", cb=traffic.on_outbound, ordered_consumer=True)
    return client, js


async def own_time(
    nats_url: str,
    metrics_url: str,
    turns: int,
    users: int,
    *,
    ask: str = "question {turn}",
    first_user: int = 0,
) -> dict[str, Any]:
    """One turn at a time over warmed-up users (numbered from ``first_user``: the phases share
    NATS, and so each user's rate window), each asking ``ask`` (formatted with ``turn``)."""
    traffic = Traffic()
    client, js = await connect(nats_url, traffic)
    async with httpx.AsyncClient(timeout=10) as http:
        for number in range(first_user, first_user + users):  # warm up: each has a conversation
            await send(js, traffic, number, "hello")
        await traffic.until_answered(users, timeout=60)
        traffic.latencies.clear()
        before = await scrape(http, metrics_url)
        for turn in range(turns):
            await send(js, traffic, first_user + turn % users, ask.format(turn=turn))
            await traffic.until_answered(users + turn + 1, timeout=30)
        after = await scrape(http, metrics_url)
    await client.close()
    own = histogram_median(before, after, "chatbot_turn_overhead_seconds_bucket")
    return {
        "turns": turns,
        "own_ms_median": round(own * 1000, 3),
        "service_cpu_ms_per_turn": cpu_per_turn(before, after, turns),
        "end_to_end_ms_median": round(statistics.median(traffic.latencies) * 1000, 3),
        "end_to_end_ms_p90": round(percentile(traffic.latencies, 0.9) * 1000, 3),
    }


async def paced(
    js: JetStreamContext, traffic: Traffic, *, rate: int, count: int, users: int, first: int
) -> float:
    """Send ``count`` messages at ``rate`` per second, round robin over ``users``; seconds taken."""
    tick = 0.02
    started = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - started + tick) * rate))
        while sent < due:
            number = first + sent
            task = asyncio.create_task(send(js, traffic, number % users, f"question {number}"))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.sleep(tick)
    seconds = time.perf_counter() - started
    await asyncio.gather(*pending)
    return seconds


async def load(
    nats_url: str, metrics_url: str, *, rate: int, seconds: int, users: int
) -> dict[str, Any]:
    traffic = Traffic()
    client, js = await connect(nats_url, traffic)
    # Warm-up: every user has a conversation, as in a deployment that has been running.
    await paced(js, traffic, rate=rate, count=users, users=users, first=0)
    await traffic.until_answered(users, timeout=120)
    traffic.latencies.clear()
    traffic.reply_times.clear()

    in_flight: list[float] = []
    stop = asyncio.Event()

    async def sample() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                values = await scrape(http, metrics_url)
                in_flight.append(values.get("chatbot_turns_in_flight", 0.0))
                await asyncio.sleep(0.25)

    async with httpx.AsyncClient(timeout=10) as http:
        before = await scrape(http, metrics_url)
    cpu_before = processes_cpu()
    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    sent = rate * seconds
    send_seconds = await paced(js, traffic, rate=rate, count=sent, users=users, first=users)
    await traffic.until_answered(users + sent, timeout=120)
    stop.set()
    await sampler
    cpu = {
        name: round(used - cpu_before.get(name, 0.0), 1) for name, used in processes_cpu().items()
    }
    async with httpx.AsyncClient(timeout=10) as http:
        after = await scrape(http, metrics_url)
    await client.close()

    # Steady state: from when the first replies arrive until the last message was sent.
    first_reply = min(traffic.reply_times)
    window = [t for t in traffic.reply_times if first_reply + 1 <= t <= started + send_seconds]
    steady = len(window) / (window[-1] - window[0]) if len(window) > 1 else 0.0
    busy = [value for value in in_flight if value > 0]
    return {
        "offered_per_second": rate,
        "seconds": seconds,
        "users": users,
        "messages": sent,
        "replies": len(traffic.reply_times),
        "replies_per_second": round(steady, 1),
        "in_flight_max": max(in_flight),
        "in_flight_median_while_busy": statistics.median(busy) if busy else 0,
        "reply_ms_median": round(statistics.median(traffic.latencies) * 1000, 1),
        "reply_ms_p99": round(percentile(traffic.latencies, 0.99) * 1000, 1),
        "service_cpu_ms_per_turn": cpu_per_turn(before, after, sent),
        "cpu_seconds_by_process": cpu,
    }


def phase(
    nats_url: str, latency: str, settings: dict[str, str], run: Any, *, tools: bool = False
) -> dict[str, Any]:
    """``run`` (given the service's metrics URL) against the sandbox and one conversation
    service on ``nats_url``, the responder answering in ``latency`` seconds; with ``tools``,
    the sandbox's example tools (answering at once) are offered."""
    environment = {
        "NATS_URL": nats_url,
        "USER_KEY_SECRET": SECRET,
        "SANDBOX_OPENAI_LATENCY": latency,
        **settings,
    }
    ports = Ports.free()
    with tempfile.TemporaryDirectory(prefix="bench-tools-") as folder:
        if tools:
            sandbox = f"http://127.0.0.1:{ports.sandbox}"
            environment["TOOLS_FILE"] = str(example_tools_file(Path(folder), sandbox))
        with bench_stack("sandbox", "conversation", environment=environment, ports=ports) as stack:
            result: dict[str, Any] = asyncio.run(run(stack.url("conversation") + "/metrics"))
    return {"responder_latency_s": float(latency), "settings": settings, **result}


def run(options: Options) -> Report:
    rate = int(options.rate or 300)
    seconds = int(options.seconds or 20)
    users = options.users or 1800
    turns = 400
    with bench_stack("nats") as nats:
        nats_url = nats.env["NATS_URL"]
        print("   own time: responder at 0 ms, one turn at a time...", flush=True)
        own = phase(
            nats_url,
            "0",
            {"COALESCE_WINDOW": "0"},
            lambda metrics: own_time(nats_url, metrics, turns, users=50),
        )
        print("   own time with one tool round (tool at 0 ms)...", flush=True)
        tooled = phase(
            nats_url,
            "0",
            {"COALESCE_WINDOW": "0"},
            lambda metrics: own_time(
                nats_url, metrics, turns, users=50, ask="lookup_order {turn}", first_user=10_000
            ),
            tools=True,
        )
        print(f"   load: responder at 2 s, {rate} messages/s for {seconds} s...", flush=True)
        loaded = phase(
            nats_url,
            "2",
            {},
            lambda metrics: load(nats_url, metrics, rate=rate, seconds=seconds, users=users),
        )
    return Report(
        "conversation",
        "conversation alone: own time per turn (responder 0 ms), turns in flight and replies/s "
        "(responder 2 s)",
        {"rate_per_second": rate, "seconds": seconds, "users": users, "sequential_turns": turns},
        rows=[
            ("own time per turn, median", f"{own['own_ms_median']} ms"),
            ("end to end (publish -> reply), median / p90",
             f"{own['end_to_end_ms_median']} / {own['end_to_end_ms_p90']} ms"),
            ("service CPU per turn, plain / with one tool round",
             f"{own['service_cpu_ms_per_turn']} / {tooled['service_cpu_ms_per_turn']} ms"),
            ("own time per turn with one tool round, median", f"{tooled['own_ms_median']} ms"),
            ("replies per second", f"{loaded['replies_per_second']}"),
            ("turns in flight, max / median while busy",
             f"{loaded['in_flight_max']:.0f} / {loaded['in_flight_median_while_busy']:.0f}"),
            ("reply latency median / p99",
             f"{loaded['reply_ms_median']} / {loaded['reply_ms_p99']} ms"),
            ("service CPU per turn", f"{loaded['service_cpu_ms_per_turn']} ms"),
        ],
        checks=[
            Check("turns in flight", loaded["in_flight_max"], TARGETS["in_flight"], "", ">="),
            Check("replies per second", loaded["replies_per_second"],
                  TARGETS["replies_per_second"], "/s", ">="),
            Check("own time per turn, median", own["own_ms_median"], TARGETS["own_ms_median"],
                  " ms"),
        ],
        data={"own_time": own, "own_time_one_tool_round": tooled, "load": loaded},
    )  # fmt: skip
