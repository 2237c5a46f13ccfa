"""What the whole-stack scenarios (pipeline, concurrency, bursts, soak) share: one run through
a fresh stack, and the rows, targets and data every one of them reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import uvloop

from bench.report import Options, Report, cpu_rows, latency_rows, reply_checks, reply_rows
from bench.stats import Latency, Planned
from bench.system import Driven, bench_stack, drive

__all__ = ["base_report", "through_stack"]


def through_stack(
    scenario: str,
    options: Options,
    planned: Sequence[Planned],
    environment: dict[str, Any],
    **drive_options: Any,
) -> Driven:
    """Start a fresh stack with ``environment`` (values as strings), drive it, stop it."""
    with bench_stack(environment={key: str(value) for key, value in environment.items()}) as stack:
        return uvloop.run(
            drive(stack, planned, scenario=scenario, profile=options.profile, **drive_options)
        )


def base_report(
    scenario: str, title: str, settings: dict[str, Any], driven: Driven, *, after: float = 0.0
) -> Report:
    """The report rows, targets and data every whole-stack scenario has; ``after`` leaves the
    first seconds (a warm-up) out of the latencies."""
    latency = Latency.of(driven.latencies(after))
    webhook = Latency.of(driven.run.latencies(after))
    lag = Latency.of(driven.run.lags())
    cpu = driven.cpu_used()
    report = Report(
        scenario,
        title,
        settings,
        rows=[
            *latency_rows("reply: scheduled send -> Twilio request", latency),
            *latency_rows("webhook answered by ingress", webhook),
            *latency_rows("generator lag behind schedule", lag),
            ("webhook statuses", str(driven.run.statuses())),
            *reply_rows(driven.accounting, len(driven.planned)),
            *cpu_rows(cpu, len(driven.planned)),
        ],
        checks=reply_checks(driven.accounting),
        data={
            "reply_ms": latency,
            "webhook_ms": webhook,
            "generator_lag_ms": lag,
            "generator_cpu_cores": round(driven.run.cpu_share, 3),
            "webhook_statuses": driven.run.statuses(),
            "accounting": driven.accounting_summary(),
            "cpu_seconds": cpu,
        },
    )
    if lag.p99 > 10:
        report.notes.append(
            f"the generator fell behind schedule (lag p99 {lag.p99:g} ms); the delay is counted "
            "in every latency, so they are upper bounds"
        )
    if driven.profile:
        report.data["profile"] = driven.profile
        for process, summary in driven.profile.items():
            top = summary.get("self_by_file", [])[:4]
            report.rows.append(
                (f"CPU profile of {process}", ", ".join(f"{name} {share}%" for name, share in top))
            )
    return report
