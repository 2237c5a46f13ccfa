"""`make bench-handoff`: human handoff through the whole stack, from the user to a person and back.

N users (``--users``) are handed to the sandbox's Chatwoot, write to the desk, get a person's reply
and are handed back, each step at an open-loop rate (``--rate``). What each step times:
docs/performance.md (handoff); the latest numbers: the README (Performance).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvloop

from bench.loadgen import Run, run_apart
from bench.report import Options, Report, latency_rows
from bench.stats import Check, Latency, Planned, Reply, constant_rate
from bench.system import ReplyLog, Sampler, bench_stack
from bench.webhooks import question, signed_requests
from chatbot_conversation.config import ConversationSettings
from chatbot_devstack import LocalStack, StackDriver, user_number

__all__ = ["run"]

HANDOFF_MESSAGE = ConversationSettings.model_fields["handoff_message"].default
RETURN_MESSAGE = ConversationSettings.model_fields["handoff_return_message"].default
TARGET_P95_MS = 1000.0
"""A person's reply reaches the user within a second (p95), as a chat needs."""
GRACE = 1.0
"""Seconds to keep looking after a step is complete, for late duplicates."""


def desk_text(user: int) -> str:
    return f"Where is my order? (desk message {user})"


def reply_text(user: int) -> str:
    return f"reply {user}"


@dataclass
class Step:
    """One step for every user: when it began for each, and every time its outcome was seen."""

    began: dict[int, float] = field(default_factory=dict)
    seen: dict[int, list[float]] = field(default_factory=dict)
    ended: float = 0.0

    def timed(self, origin: float) -> list[tuple[float, float]]:
        """(began, seconds after ``origin``; seconds until first seen) of each user's."""
        return [
            (at - origin, min(self.seen[user]) - at)
            for user, at in self.began.items()
            if self.seen.get(user)
        ]

    def latency(self) -> Latency:
        return Latency.of([seconds for _, seconds in self.timed(0.0)])

    def tally(self, users: int) -> dict[str, int]:
        copies = [len(self.seen.get(user, [])) for user in range(users)]
        return {
            "once": copies.count(1),
            "lost": copies.count(0),
            "duplicated": sum(count > 1 for count in copies),
        }


async def settle(count: Callable[[], Awaitable[int]], expected: int, *, quiet: float) -> float:
    """Ask ``count`` every 0.1 s until it reaches ``expected`` (then GRACE s more, for late
    duplicates) or stops growing for ``quiet`` s; the wall time it got there or gave up."""
    best, news = -1, time.monotonic()
    while (now := await count()) < expected:
        if now > best:
            best, news = now, time.monotonic()
        elif time.monotonic() - news > quiet:
            return time.time()
        await asyncio.sleep(0.1)
    done = time.time()
    await asyncio.sleep(GRACE)
    await count()
    return done


def at_twilio(replies: Iterable[Reply], step: Step, body: Callable[[int], str], users: int) -> int:
    """Fill ``step.seen`` from the fake Twilio's messages (to the user, with ``body(user)``);
    how many users have theirs."""
    wanted = {(user_number(user), body(user)): user for user in range(users)}
    step.seen = {}
    for reply in replies:
        if (user := wanted.get((reply.to, reply.body))) is not None:
            step.seen.setdefault(user, []).append(reply.at)
    return len(step.seen)


async def send(stack: LocalStack, planned: list[Planned], text: Callable[[Planned], str]) -> Run:
    """The planned messages as signed Twilio webhooks, open loop."""
    base = stack.env["PUBLIC_BASE_URL"]
    requests = signed_requests(base, planned, stack.env["TWILIO_AUTH_TOKEN"], text)
    target = urlsplit(base)
    scheduled = [message.at for message in planned]
    return await run_apart(target.hostname or "127.0.0.1", target.port or 80, requests, scheduled)


async def paced(
    rate: float, users: Iterable[int], act: Callable[[int], Awaitable[Any]], step: Step
) -> None:
    """``act(user)`` for each of ``users``, ``rate`` per second on schedule (open loop), timed."""

    async def one(user: int) -> None:
        step.began[user] = time.time()
        await act(user)

    start = time.perf_counter()
    running = []
    for index, user in enumerate(users):
        await asyncio.sleep(max(start + index / rate - time.perf_counter(), 0.0))
        running.append(asyncio.create_task(one(user)))
    await asyncio.gather(*running)


async def exercise(stack: LocalStack, users: int, rate: float) -> dict[str, Any]:
    """Warm up, then the four steps; what each step saw, the runs and the CPU samples."""
    planned = [Planned(at, user, user) for user, at in enumerate(constant_rate(rate, users / rate))]
    steps = {name: Step() for name in ("handoff", "to the desk", "person to user", "hand-back")}
    pids = {name: p.pid for name, p in stack.processes.items() if p.pid is not None}
    sampler = Sampler({**pids, "bench": os.getpid()})
    async with httpx.AsyncClient(timeout=30) as http:
        driver, stop = StackDriver(stack, http), asyncio.Event()
        log = ReplyLog(driver)
        sampling = asyncio.create_task(sampler.run(http, stop))

        def on_twilio(step: Step, body: Callable[[int], str]) -> Callable[[], Awaitable[int]]:
            async def count() -> int:
                await log.read()
                return at_twilio(log.replies, step, body, users)

            return count

        async def warm() -> int:
            await log.read()
            return len(log.answered)

        warmup = await send(stack, planned, question)
        await settle(warm, users, quiet=15)

        step = steps["handoff"]
        handing = await send(stack, planned, lambda _: "person")
        step.began = {m.user: handing.started_wall + m.at for m in planned}
        step.ended = await settle(on_twilio(step, lambda _: HANDOFF_MESSAGE), users, quiet=15)
        phones = {user_number(user).removeprefix("whatsapp:"): user for user in range(users)}
        opened: dict[int, list[int]] = {}
        for conversation in await driver.desk.conversations():
            user = phones.get(conversation["meta"]["sender"]["phone_number"], -1)
            opened.setdefault(user, []).append(conversation["id"])
        by_id = {ids[-1]: user for user, ids in opened.items()}

        step = steps["to the desk"]
        skip = len(await driver.sandbox_records("chatwoot/requests"))

        async def at_desk() -> int:
            step.seen = {}
            for record in await driver.sandbox_records("chatwoot/requests", after=skip):
                parts = record["path"].split("/")
                if record["method"] == "POST" and parts[-1] == "messages":
                    at = datetime.fromisoformat(record["received_at"]).timestamp()
                    step.seen.setdefault(by_id.get(int(parts[-2]), -1), []).append(at)
            return len(step.seen.keys() - {-1})

        writing = await send(stack, planned, lambda m: desk_text(m.user))
        step.began = {
            planned[index].user: writing.started_wall + writing.done[index]
            for index in writing.acknowledged()
        }
        step.ended = await settle(at_desk, users, quiet=15)
        present = 0
        for conversation in await driver.desk.conversations():
            user = by_id.get(conversation["id"], -1)
            texts = [m["content"] for m in conversation["messages"] if m["message_type"] == 0]
            present += texts.count(desk_text(user)) == 1

        step = steps["person to user"]
        ids = {user: id_ for id_, user in sorted(by_id.items()) if user >= 0}
        await paced(rate, sorted(ids), lambda u: driver.desk.reply(ids[u], reply_text(u)), step)
        step.ended = await settle(on_twilio(step, reply_text), users, quiet=15)

        step = steps["hand-back"]
        await paced(rate, sorted(ids), lambda u: driver.desk.set_status(ids[u], "resolved"), step)
        step.ended = await settle(on_twilio(step, lambda _: RETURN_MESSAGE), users, quiet=15)
        stop.set()
        await sampling
    return {
        "steps": steps,
        "runs": {"warm-up": warmup, "handoff": handing, "to the desk": writing},
        "opened": sum(len(found) for user, found in opened.items() if user >= 0),
        "present": present,
        "sampler": sampler,
    }


def run(options: Options) -> Report:
    users = options.users or 100
    rate = options.rate or 20.0
    environment = {
        "SANDBOX_OPENAI_LATENCY": options.openai_latency or 0.0,
        "SANDBOX_TWILIO_LATENCY": options.twilio_latency or 0.0,
        "COALESCE_WINDOW": 0,
    }
    with bench_stack(environment={key: str(value) for key, value in environment.items()}) as stack:
        result = uvloop.run(exercise(stack, users, rate))
    steps: dict[str, Step] = result["steps"]
    sampler: Sampler = result["sampler"]
    every = sampler.every
    cpu = {
        name: sampler.cpu_used(min(step.began.values(), default=0.0) - every, step.ended + every)
        for name, step in steps.items()
    }
    conversation_ms = {name: round(used.get("conversation", 0.0) * 1000 / users, 2)
                       for name, used in cpu.items()}  # fmt: skip
    all_ms = {
        name: round(sum(v for process, v in used.items() if process != "bench") * 1000 / users, 2)
        for name, used in cpu.items()
    }
    tallies = {name: step.tally(users) for name, step in steps.items()}
    latencies = {name: step.latency() for name, step in steps.items()}
    statuses = {name: run.statuses() for name, run in result["runs"].items()}
    labels = {
        "handoff": "1. handoff: `person` sent -> handoff message at Twilio",
        "to the desk": "2. to the desk: webhook accepted -> desk API has it",
        "person to user": "3. person to user: reply POST -> Twilio",
        "hand-back": "4. hand-back: resolve POST -> return message at Twilio",
    }
    each = "  ".join
    latency_table = [row for name in labels for row in latency_rows(labels[name], latencies[name])]
    report = Report(
        "handoff",
        f"human handoff: {users} users, {rate:g} per second per step, OpenAI and Twilio "
        f"{environment['SANDBOX_OPENAI_LATENCY']:g} s, coalescing off",
        {"users": users, "rate_per_second": rate, "desk": "sandbox chatwoot", **environment},
        rows=[
            *latency_table,
            ("exactly once / lost / duplicated",
             each(f"{name} {t['once']}/{t['lost']}/{t['duplicated']}"
                  for name, t in tallies.items())),
            ("desk conversations opened", f"{result['opened']} for {users} users"),
            ("desk messages in their conversation once", f"{result['present']} of {users}"),
            ("conversation CPU ms per event",
             each(f"{name} {ms:g}" for name, ms in conversation_ms.items())),
            ("CPU ms per event, the whole stack",
             each(f"{name} {ms:g}" for name, ms in all_ms.items())),
            ("webhook statuses", str(statuses)),
        ],
        checks=[
            *(Check(f"{name}: exactly once", t["once"], users, rule="==")
              for name, t in tallies.items()),
            Check("desk conversations opened", result["opened"], users, rule="=="),
            Check("desk messages in their conversation once", result["present"], users, rule="=="),
            Check("person to user p95", latencies["person to user"].p95, TARGET_P95_MS, " ms"),
        ],
        data={
            "latency_ms": latencies,
            "delivered": tallies,
            "desk_conversations_opened": result["opened"],
            "desk_messages_present_once": result["present"],
            "conversation_cpu_ms_per_event": conversation_ms,
            "cpu_ms_per_event_whole_stack": all_ms,
            "cpu_seconds_by_step": cpu,
            "webhook_statuses": statuses,
        },
    )  # fmt: skip
    origin = min(steps["handoff"].began.values(), default=0.0)

    def plot(path: Path) -> None:
        from bench import plots  # matplotlib: `make bench` has it, `make test` does not

        plots.latency(
            path,
            report.title,
            {name: plots.points(step.timed(origin)) for name, step in steps.items()},
            None,  # the target is one step's p95, far above them all: it would flatten them
        )

    report.plot = plot
    return report
