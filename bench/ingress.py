"""Scenario 1, ingress capacity: the highest rate of signed webhooks served at p99 < 50 ms.

One ingress (one uvicorn worker, with its nats-server) and a bare FastAPI endpoint
(bench/bare_app.py), each given an open-loop rate search, each server alone on one core
(:func:`bench.system.own_core`). The method and why: docs/performance.md (scenario 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import uvloop

from bench import plots
from bench.loadgen import run_apart
from bench.report import Options, Report
from bench.stats import Check, Latency, constant_rate, next_rate, round_robin
from bench.system import bench_stack, own_core, process, usage
from bench.webhooks import signed_requests
from chatbot_devstack import AUTH_TOKEN, find_executable, free_port
from chatbot_devstack.webhooks import MESSAGES_ROUTE

__all__ = ["run"]

P99_LIMIT_MS = 50.0
TARGET_RATE = 2000.0
TARGET_RATIO = 0.5
WARMUP = 1.0
MAX_STEPS = 12
WARMUP_RATE = 300.0


@dataclass(frozen=True)
class Step:
    """One fixed-rate step of a search and how it went."""

    rate: float
    latency: Latency
    lag: Latency
    statuses: dict[int, int]
    achieved: float
    server_cpu_cores: float
    generator_cpu_cores: float
    queued: int

    @property
    def passed(self) -> bool:
        return self.latency.p99 < P99_LIMIT_MS and set(self.statuses) == {200}


def _uvicorn(target: str, port: int) -> list[str]:
    return [
        find_executable("uvicorn"), target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


@contextmanager
def _bare(port: int) -> Iterator[tuple[int, str]]:
    """The bare endpoint on a core of its own; yields the pid whose CPU counts and how the CPUs
    are shared."""
    env = {"PYTHONPATH": str(Path(__file__).parent)}
    with (
        process("bare", _uvicorn("bare_app:app", port), env, f"http://127.0.0.1:{port}/docs") as p,
        own_core(p.pid or 0) as pinning,
    ):
        yield p.pid or 0, pinning


@contextmanager
def _ingress() -> Iterator[tuple[int, int, str]]:
    """nats-server and ingress, ingress on a core of its own; yields ingress's port and pid,
    and how the CPUs are shared."""
    with bench_stack("nats", "ingress") as stack:
        pid, server = (stack.processes[name].pid or 0 for name in ("ingress", "nats"))
        with own_core(pid, server) as pinning:
            yield stack.ports.ingress, pid, pinning


def _cpu_seconds(pid: int) -> float:
    used = usage(pid)
    return used[0] if used else 0.0


def _step(port: int, pid: int, rate: float, seconds: float) -> Step:
    planned = round_robin(constant_rate(rate, WARMUP + seconds), 1000)
    requests = signed_requests(f"http://127.0.0.1:{port}", planned, AUTH_TOKEN)
    before = _cpu_seconds(pid)
    run = uvloop.run(run_apart("127.0.0.1", port, requests, [m.at for m in planned]))
    used = _cpu_seconds(pid) - before
    answered = len(run.latencies(after=WARMUP))
    return Step(
        rate=rate,
        latency=Latency.of(run.latencies(after=WARMUP)),
        lag=Latency.of(run.lags(after=WARMUP)),
        statuses=run.statuses(after=WARMUP),
        achieved=round(answered / seconds, 1),
        server_cpu_cores=round(used / run.wall_seconds, 2),
        generator_cpu_cores=round(run.cpu_share, 2),
        queued=run.queued,
    )


def _search(name: str, port: int, pid: int, seconds: float) -> list[Step]:
    """The steps of one server's rate search, after an unrecorded warm-up step: a fresh process
    pays for lazy imports, first connections and JetStream's first writes, and one stall in the
    first step would send the whole search below the real capacity."""
    _step(port, pid, WARMUP_RATE, seconds)
    steps: list[Step] = []
    while len(steps) < MAX_STEPS:
        rate = next_rate(
            [(s.rate, s.passed) for s in steps], start=500, growth=1.5, resolution=0.08
        )
        if rate is None:
            break
        step = _step(port, pid, rate, seconds)
        steps.append(step)
        print(
            f"   {name:>7} {rate:6.0f}/s: p50 {step.latency.p50:8.2f} ms  p99 "
            f"{step.latency.p99:8.2f} ms  lag p99 {step.lag.p99:6.2f} ms  server CPU "
            f"{step.server_cpu_cores:.2f}  {'pass' if step.passed else 'miss'}",
            flush=True,
        )
    return steps


def _best(steps: list[Step]) -> Step | None:
    return max((s for s in steps if s.passed), key=lambda s: s.rate, default=None)


def run(options: Options) -> Report:
    seconds = options.seconds or 5.0
    searches, pinning = {}, {}
    with _bare(port := free_port()) as (pid, pinning["bare FastAPI"]):
        searches["bare FastAPI"] = _search("bare", port, pid, seconds)
    with _ingress() as (port, pid, pinning["ingress"]):
        searches["ingress"] = _search("ingress", port, pid, seconds)
    best = {name: _best(steps) for name, steps in searches.items()}
    capacity = {name: step.rate if step else 0.0 for name, step in best.items()}
    ratio = capacity["ingress"] / capacity["bare FastAPI"] if capacity["bare FastAPI"] else 0.0
    report = Report(
        "ingress",
        f"ingress capacity: signed webhooks/s at p99 < {P99_LIMIT_MS:g} ms, open loop, beside "
        "a bare FastAPI endpoint",
        {
            "step_seconds": seconds,
            "warmup_seconds_per_step": WARMUP,
            "search": "a warm-up step at 300/s, then x1.5 from 500/s until a miss, then bisect "
            "to 8%",
            "uvicorn_workers": 1,
            "route": MESSAGES_ROUTE,
            "cpus": pinning,
        },
    )
    for name, step in best.items():
        if step is None:
            report.rows.append((name, f"no rate passed (from {searches[name][0].rate:g}/s)"))
            continue
        report.rows.append(
            (
                name,
                f"{step.rate:g} req/s: p50 {step.latency.p50:g} ms, p99 {step.latency.p99:g} ms, "
                f"server CPU {step.server_cpu_cores:g} cores, generator lag p99 "
                f"{step.lag.p99:g} ms",
            )
        )
    report.rows.append(("ratio ingress / bare", f"{ratio:.2f}"))
    for name, steps in searches.items():
        missed = [s for s in steps if not s.passed]
        if missed and max(missed, key=lambda s: s.rate).lag.p99 > 5:
            report.notes.append(
                f"{name}: the generator fell behind at the failing rates (lag p99 over 5 ms); "
                "its own delay is counted in the latency, so the capacity found is a floor"
            )
    report.checks = [
        Check("ingress sustained rate at p99 < 50 ms", capacity["ingress"], TARGET_RATE,
              " req/s", ">="),
        Check("ingress / bare FastAPI", round(ratio, 3), TARGET_RATIO, "", ">="),
    ]  # fmt: skip
    report.data = {
        "capacity_per_second": capacity,
        "ratio": round(ratio, 3),
        "steps": {name: [asdict(s) | {"passed": s.passed} for s in steps]
                  for name, steps in searches.items()},
    }  # fmt: skip

    def lines(steps: list[Step]) -> dict[str, plots.Series]:
        ordered = sorted(steps, key=lambda s: s.rate)
        rates = [s.rate for s in ordered]
        return {
            "p50": (rates, [s.latency.p50 for s in ordered]),
            "p99": (rates, [s.latency.p99 for s in ordered]),
        }

    report.plot = lambda path: plots.capacity(
        path, report.title, {name: lines(steps) for name, steps in searches.items()}, P99_LIMIT_MS
    )
    return report
