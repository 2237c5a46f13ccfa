"""versus-seed: the seed's design (bench/seed/twilio_handler.py) and ours under the same load on
the same machine, one after the other, each with a fresh sandbox playing OpenAI and Twilio.

A light load, bursts with and without Twilio's retries (bench/twilio_caller.py), a kill -9: what
each run sends, how replies are matched, and the results are in docs/performance.md (versus-seed).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench import plots
from bench.outcomes import (
    answer_counts,
    conversations_by_user,
    errors,
    kill_outcome,
)
from bench.report import Options, Report
from bench.stats import (
    Accounting,
    Check,
    Latency,
    Planned,
    Reply,
    account,
    bursts,
    constant_rate,
    round_robin,
)
from bench.system import ReplyLog, Sampler, bench_stack, process
from bench.twilio_caller import Calls, Overrides, calling
from bench.webhooks import signed_requests
from chatbot_devstack import LocalStack, ManagedProcess, StackDriver, inbound_form, user_number

__all__ = ["run"]

SEED_APP = Path(__file__).resolve().parent / "seed" / "twilio_handler.py"
SEED_SETTINGS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE_URL",
)
"""What `make run` gives the services to reach the sandbox, which the seed's SDKs read too."""

SYSTEMS = ("seed", "ours")
UNDER_TEST = {"seed": ("seed",), "ours": ("ingress", "conversation", "sender", "nats")}
"""The processes whose CPU is the system's (the sandbox plays OpenAI and Twilio)."""
VICTIM = {"seed": "seed", "ours": "conversation"}
WARM_UP_USER = 9_999_999
"""The user of the message each system gets before a measured run (no run has this many)."""

PER_USER = 3
GAP = 0.3
SPREAD = 10.0
STALL_SECONDS = 18.0
STALL = {"kind": "stall", "seconds": STALL_SECONDS, "probability": 0.1, "count": 100_000}
"""The fake OpenAI's fault (FaultSpec): 1 model answer in 10 takes 18 s longer."""
FAULT_SEED = 25
VARIANTS = {"no retry": "", "retry": "#rt=5000&rc=2&rp=rt,5xx"}

LIGHT = "light load"
LIGHT_USERS = 20
LIGHT_RATE = 2.0
"""The light-load run: 20 users, one message each, 2 a second, no stalls, no retries."""

KILL_USERS = 100
KILL_SPREAD = 6.0
KILL_GAP = 14.0
KILL_AT = 4.0
FOLLOW_LIMIT = 120.0
"""Seconds replies are read for after Twilio's last call, whatever is still in flight."""
FAST_RECOVERY = {"LEASE_TTL": "5", "INBOUND_ACK_WAIT": "10"}
"""Ours in the kill variant: a crashed turn is taken up again after 5-10 s instead of the
defaults' 30-120 s, so the variant stays short. The seed has nothing to take up."""


@dataclass
class System:
    """One system under test: its stack (the sandbox alone for the seed), the port Twilio
    posts to, and its processes by name (the kill variant replaces the one it kills)."""

    name: str
    stack: LocalStack
    processes: dict[str, ManagedProcess]

    @property
    def port(self) -> int:
        return self.stack.ports.ingress

    def pids(self) -> dict[str, int]:
        both = {**self.stack.processes, **self.processes}
        return {name: p.pid for name, p in both.items() if p.pid is not None}

    async def crash(self, at: float) -> tuple[float, float]:
        """kill -9 the victim at wall time ``at`` and start it again at once, as an
        orchestrator would; when it died and when it was ready again."""
        await asyncio.sleep(max(at - time.time(), 0.0))
        name = VICTIM[self.name]
        await self.processes[name].kill()
        killed = time.time()
        self.processes[name] = replacement = self.processes[name].respawn()
        replacement.start()
        await replacement.ready(60)
        return killed, time.time()


@contextmanager
def _seed(stack: LocalStack) -> Iterator[dict[str, ManagedProcess]]:
    """``python twilio_handler.py`` on the port ingress would have, settings from the stack."""
    port = stack.ports.ingress
    env = {key: stack.env[key] for key in SEED_SETTINGS} | {"PORT": str(port)}
    argv = [sys.executable, str(SEED_APP)]
    with process("seed", argv, env, f"http://127.0.0.1:{port}/healthz") as first:
        processes = {"seed": first}
        try:
            yield processes
        finally:
            if processes["seed"] is not first:  # the kill variant's replacement
                asyncio.run(processes["seed"].stop())


@contextmanager
def started(name: str, environment: Mapping[str, str]) -> Iterator[System]:
    """A fresh system: ours as `make run` starts it, or the seed beside a sandbox alone."""
    if name == "ours":
        with bench_stack(environment=environment) as stack:
            yield System(name, stack, stack.processes)
    else:
        with bench_stack("sandbox", environment=environment) as stack, _seed(stack) as processes:
            yield System(name, stack, processes)


class _Replies(ReplyLog):
    """The fake Twilio's accepted messages, followed until Twilio's calls are done."""

    async def model_busy(self) -> bool:
        """Whether a model request is in flight (the sandbox has not answered it yet)."""
        records = await self.driver.sandbox_records("openai/requests")
        return any(record["status_code"] is None for record in records)

    async def follow_calls(
        self, expected: set[int], calls: asyncio.Task[Calls], *, quiet: float
    ) -> None:
        """Read until Twilio's calls are done and either every message is answered (then 2 s
        more, for late copies) or, with no model request in flight, nothing came for
        ``quiet`` s; at most :data:`FOLLOW_LIMIT` s after the calls."""
        news = time.monotonic()
        done = math.inf
        while True:
            await asyncio.sleep(1.0)
            if await self.read():
                news = time.monotonic()
            if not calls.done():
                continue
            done = min(done, time.monotonic())
            if time.monotonic() - done > FOLLOW_LIMIT:
                return
            if expected <= self.answered:
                await asyncio.sleep(2.0)
                await self.read()
                return
            if time.monotonic() - news > quiet and not await self.model_busy():
                return


@dataclass
class Measured:
    """One run of one system: Twilio's calls, the replies, the model's requests, CPU."""

    system: str
    planned: Sequence[Planned]
    calls: Calls
    replies: list[Reply]
    model_requests: list[dict[str, Any]]
    cpu: dict[str, float]
    crash: tuple[float, float] | None = None
    accounting: Accounting = field(init=False)

    def __post_init__(self) -> None:
        users = {message.user: user_number(message.user) for message in self.planned}
        self.accounting = account(self.planned, self.replies, users)

    def timed(self) -> list[tuple[float, float]]:
        """(scheduled send, seconds until its first reply reached Twilio) of each answered
        message."""
        start, answered = self.calls.started_wall, self.accounting.answered
        return [
            (m.at, answered[m.number] - start - m.at) for m in self.planned if m.number in answered
        ]

    def cpu_under_test(self) -> float:
        return round(sum(self.cpu.get(name, 0.0) for name in UNDER_TEST[self.system]), 2)

    def summary(self) -> dict[str, Any]:
        accounting, calls = self.accounting, self.calls
        counts = answer_counts(self.planned, accounting)
        under_test = self.cpu_under_test()
        return {
            "messages": len(self.planned),
            "answered_once": counts.get(1, 0),
            "answered_twice_or_more": sum(n for times, n in counts.items() if times >= 2),
            "not_answered": counts.get(0, 0),
            "answers_per_message": counts,
            "out_of_order": accounting.order_violations,
            "unmatched": accounting.unmatched,
            "misdirected": accounting.misdirected,
            "replies": len(self.replies),
            "webhook_attempts": len(calls.attempts),
            "webhook_attempt_outcomes": dict(calls.outcomes()),
            "webhook_final_outcomes": _final_outcomes(calls),
            "twilio_timeouts": calls.timeouts(),
            "webhook_ms": Latency.of(calls.waits()),
            "webhook_200_ms": Latency.of(calls.waits(200)),
            "reply_ms": Latency.of([seconds for _, seconds in self.timed()]),
            "caller_lag_ms": Latency.of(calls.lags()),
            "model_requests": sum(
                1 for r in self.model_requests if r["endpoint"] == "responses.create"
            ),
            "conversation_locked": errors(self.model_requests, "conversation_locked"),
            "cpu_seconds": self.cpu,
            "cpu_seconds_under_test": under_test,
            "cpu_ms_per_message": round(under_test * 1000 / len(self.planned), 2),
            "cpu_ms_per_answered_message": round(
                under_test * 1000 / max(len(accounting.answered), 1), 2
            ),
        }

    def kill_summary(self) -> dict[str, Any]:
        assert self.crash is not None
        killed, back = self.crash
        outcome = kill_outcome(
            self.planned, self.calls.started_wall, self.accounting.answered, killed, back
        )
        conversations = conversations_by_user(self.model_requests, self.planned)
        return {
            "killed_after_seconds": round(killed - self.calls.started_wall, 2),
            "down_seconds": round(back - killed, 2),
            **asdict(outcome),
            "users": len({m.user for m in self.planned}),
            "conversations_created": sum(
                1 for r in self.model_requests if r["endpoint"] == "conversations.create"
            ),
            "users_whose_conversation_was_lost": sum(
                1 for c in conversations.values() if len(c) > 1
            ),
            "not_answered": len(self.accounting.lost),
            "answered_twice_or_more": len(self.accounting.duplicates),
            "out_of_order": self.accounting.order_violations,
            "webhook_final_outcomes": _final_outcomes(self.calls),
        }


def _final_outcomes(calls: Calls) -> dict[str, int]:
    """How each message's webhook ended, as Twilio saw it (its last attempt)."""
    return dict(Counter(str(attempt.outcome) for attempt in calls.finals().values()))


async def _warm_up(driver: StackDriver) -> tuple[int, int]:
    """One message through the system before the measured run, so that neither system pays
    for its first request's imports and connections there; how many replies and model
    requests it left in the sandbox."""
    form = inbound_form("Warm-up: hello", user=user_number(WARM_UP_USER))
    await driver.deliver(form, timeout=60)
    replies = await driver.twilio.sent_messages(at_least=1, timeout=30)
    return len(replies), len(await driver.sandbox_records("openai/requests"))


async def _drive(
    system: System,
    planned: Sequence[Planned],
    overrides: Overrides,
    *,
    stalls: bool,
    kill_at: float | None = None,
    quiet: float = 5.0,
) -> Measured:
    """Twilio's calls for ``planned`` on schedule (a crash ``kill_at`` s in), every reply."""
    env = system.stack.env
    requests = signed_requests(env["PUBLIC_BASE_URL"], planned, env["TWILIO_AUTH_TOKEN"])
    sampler = Sampler(system.pids(), every=0.5)
    async with httpx.AsyncClient(timeout=30) as http:
        driver = StackDriver(system.stack, http)
        skip_replies, skip_requests = await _warm_up(driver)
        if stalls:
            await driver.openai_faults(STALL)
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(http, stop))
        replies = _Replies(driver, skip_replies)
        scheduled = [message.at for message in planned]
        async with calling("127.0.0.1", system.port, overrides, requests, scheduled) as run:
            crashing = None
            if kill_at is not None:
                crashing = asyncio.create_task(system.crash(run.started_wall + kill_at))
            await replies.follow_calls({m.number for m in planned}, run.finished, quiet=quiet)
        crash = await crashing if crashing is not None else None
        stop.set()
        await sampling
        model_requests = await driver.sandbox_records("openai/requests", after=skip_requests)
    calls = run.finished.result()
    last = max((reply.at for reply in replies.replies), default=time.time())
    cpu = sampler.cpu_used(calls.started_wall, last)
    return Measured(system.name, planned, calls, replies.replies, model_requests, cpu, crash)


def _environment(options: Options, **more: str) -> dict[str, str]:
    latency = 2.0 if options.openai_latency is None else options.openai_latency
    return {
        "SANDBOX_OPENAI_LATENCY": f"{latency:g}",
        "SANDBOX_TWILIO_LATENCY": f"{options.twilio_latency or 0.0:g}",
        "SANDBOX_FAULT_SEED": str(FAULT_SEED),
        **more,
    }


def _measure(name: str, label: str, environment: Mapping[str, str], **drive: Any) -> Measured:
    print(f"   {name}, {label}...", flush=True)
    with started(name, environment) as system:
        return uvloop.run(_drive(system, **drive))


def run(options: Options) -> Report:
    users = options.users or 300
    planned = bursts(users, PER_USER, GAP, spread=SPREAD)
    environment = _environment(options)
    light = round_robin(constant_rate(LIGHT_RATE, LIGHT_USERS / LIGHT_RATE), LIGHT_USERS)
    runs = {
        LIGHT: {
            name: _measure(
                name, LIGHT, environment, planned=light, overrides=Overrides(), stalls=False
            )
            for name in SYSTEMS
        }
    }
    for variant, fragment in VARIANTS.items():
        overrides = Overrides.parse(fragment)
        runs[variant] = {
            name: _measure(
                name, variant, environment, planned=planned, overrides=overrides, stalls=True
            )
            for name in SYSTEMS
        }
    kill_planned = bursts(KILL_USERS, 2, KILL_GAP, spread=KILL_SPREAD)
    kills = {
        name: _measure(
            name,
            "kill -9",
            _environment(options, **FAST_RECOVERY),
            planned=kill_planned,
            overrides=Overrides(),
            stalls=False,
            kill_at=KILL_AT,
            quiet=15.0,
        )
        for name in SYSTEMS
    }
    return _report(users, environment, runs, kills)


def _pair(label: str, seed: object, ours: object) -> tuple[str, str]:
    return label, f"seed {seed!s:<28} ours {ours}"


def _latency(latency: Latency) -> str:
    return f"{latency.p50:.0f} / {latency.p99:.0f}"


def _rows(variant: str, seed: dict[str, Any], ours: dict[str, Any]) -> list[tuple[str, str]]:
    def both(label: str, value: Any) -> tuple[str, str]:
        return _pair(f"{variant}: {label}", value(seed), value(ours))

    return [
        both(
            "answered once / twice+ / not",
            lambda s: f"{s['answered_once']} / {s['answered_twice_or_more']} / {s['not_answered']}",
        ),
        both("replies out of order", lambda s: s["out_of_order"]),
        both("webhook answer p50 / p99 (ms)", lambda s: _latency(s["webhook_ms"])),
        both("  of which 200s p50 / p99 (ms)", lambda s: _latency(s["webhook_200_ms"])),
        both("Twilio timeouts (11200)", lambda s: s["twilio_timeouts"]),
        both("webhook attempts, by outcome", lambda s: s["webhook_attempt_outcomes"]),
        both("conversation_locked from the model", lambda s: s["conversation_locked"]),
        both(
            "reply p50 / p90 / p99 / max (s)",
            lambda s: " / ".join(
                f"{getattr(s['reply_ms'], q) / 1000:.1f}" for q in ("p50", "p90", "p99", "max")
            ),
        ),
        both(
            "CPU s (ms per message, per answered)",
            lambda s: (
                f"{s['cpu_seconds_under_test']:.1f} ({s['cpu_ms_per_message']:.1f}, "
                f"{s['cpu_ms_per_answered_message']:.1f})"
            ),
        ),
    ]


def _kill_rows(seed: dict[str, Any], ours: dict[str, Any]) -> list[tuple[str, str]]:
    def both(label: str, value: Any) -> tuple[str, str]:
        return _pair(f"kill -9: {label}", value(seed), value(ours))

    return [
        both("killed at / down for (s)", lambda k: f"{k['killed_after_seconds']} / "
             f"{k['down_seconds']}"),
        both("in flight: lost / of", lambda k: f"{k['in_flight_lost']} / {k['in_flight']}"),
        both("sent while down: lost / of",
             lambda k: f"{k['while_down_lost']} / {k['while_down']}"),
        both("sent after: lost / of", lambda k: f"{k['after_lost']} / {k['after']}"),
        both("conversations lost / users",
             lambda k: f"{k['users_whose_conversation_was_lost']} / {k['users']}"),
        both("answered twice+ / out of order",
             lambda k: f"{k['answered_twice_or_more']} / {k['out_of_order']}"),
    ]  # fmt: skip


def _checks(runs: dict[str, dict[str, Measured]], kill: dict[str, Any]) -> list[Check]:
    """The README's guarantees, held against ours (the seed is measured, not judged)."""
    checks = []
    for variant, measured in runs.items():
        ours = measured["ours"].summary()
        checks += [
            Check(f"ours, {variant}: not answered", ours["not_answered"], 0, rule="=="),
            Check(f"ours, {variant}: answered twice", ours["answered_twice_or_more"], 0,
                  rule="=="),
            Check(f"ours, {variant}: out of order", ours["out_of_order"], 0, rule="=="),
            Check(f"ours, {variant}: Twilio timeouts", ours["twilio_timeouts"], 0, rule="=="),
        ]  # fmt: skip
    checks += [
        Check("ours, kill -9: in flight lost", kill["in_flight_lost"], 0, rule="=="),
        Check("ours, kill -9: sent while down lost", kill["while_down_lost"], 0, rule="=="),
        Check("ours, kill -9: conversations lost", kill["users_whose_conversation_was_lost"], 0,
              rule="=="),
    ]  # fmt: skip
    return checks


def _report(
    users: int,
    environment: dict[str, str],
    runs: dict[str, dict[str, Measured]],
    kills: dict[str, Measured],
) -> Report:
    summaries = {
        variant: {name: m.summary() for name, m in measured.items()}
        for variant, measured in runs.items()
    }
    kill_summaries = {name: m.kill_summary() for name, m in kills.items()}
    rows: list[tuple[str, str]] = []
    for variant, by_system in summaries.items():
        rows += _rows(variant, by_system["seed"], by_system["ours"])
    rows += _kill_rows(kill_summaries["seed"], kill_summaries["ours"])
    latency = environment["SANDBOX_OPENAI_LATENCY"]
    report = Report(
        "versus-seed",
        f"the seed's design and ours: {users} users x {PER_USER} messages {GAP * 1000:g} ms "
        f"apart, model {latency} s (1 in 10: {float(latency) + STALL_SECONDS:g} s)",
        {
            "users": users,
            "messages_per_user": PER_USER,
            "gap_seconds": GAP,
            "spread_seconds": SPREAD,
            "openai_stall": STALL,
            "webhook_url_overrides": VARIANTS,
            "light_load": {"users": LIGHT_USERS, "messages_per_second": LIGHT_RATE},
            "kill": {"users": KILL_USERS, "messages_per_user": 2, "gap_seconds": KILL_GAP,
                     "spread_seconds": KILL_SPREAD, "kill_at_seconds": KILL_AT,
                     "victim": VICTIM, "ours": FAST_RECOVERY},
            **environment,
        },
        rows=rows,
        checks=_checks(runs, kill_summaries["ours"]),
        data={"runs": summaries, "kill": kill_summaries},
    )  # fmt: skip
    lags = [s["caller_lag_ms"].p99 for by_system in summaries.values() for s in by_system.values()]
    if max(lags) > 10:
        report.notes.append(
            f"Twilio's caller fell behind its schedule (lag p99 up to {max(lags):g} ms)"
        )
    report.plot = lambda path: plots.comparison(
        path,
        report.title,
        {run: plots.points(measured.timed()) for run, measured in _each(runs)},
        {run: measured.calls.waits() for run, measured in _each(runs)},
        {
            run: {
                "answered once": summary["answered_once"],
                "answered twice+": summary["answered_twice_or_more"],
                "not answered": summary["not_answered"],
            }
            for run, summary in _each(summaries)
            if run[1] != LIGHT  # 20 messages: no bar to see beside 900
        },
        timeout_ms=Overrides().read_timeout * 1000,
    )
    return report


def _each[T](runs: dict[str, dict[str, T]]) -> Iterator[tuple[tuple[str, str], T]]:
    """((system, variant), value) of every run, the systems of a variant together."""
    for variant, by_system in runs.items():
        for system, value in by_system.items():
            yield (system, variant), value
