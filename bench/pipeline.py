"""Scenario 2, pipeline overhead: what the three services add between webhook and Twilio.

The sandbox answers at once (OpenAI and Twilio at 0 ms) and coalescing is off, so the time from
a webhook's scheduled send to the fake Twilio receiving its reply is all ours: ingress, NATS,
conversation (lease, mailbox, state, the model call's round trip), NATS again, the sender.
Messages go out at a steady rate, taking turns over the users (each user writes every
users/rate seconds). The first users/rate seconds are a warm-up: every user's first message
creates its OpenAI conversation, which a deployment that has been running has already done;
they count for lost and duplicate replies but not for latency.
"""

from __future__ import annotations

from bench import plots
from bench.report import Options, Report
from bench.scenario import base_report, through_stack
from bench.stats import Check, Latency, constant_rate, round_robin

__all__ = ["run"]

TARGET_P50_MS = 10.0
TARGET_P99_MS = 50.0


def run(options: Options) -> Report:
    rate = options.rate or 200.0
    users = options.users or 1000
    seconds = options.seconds or 30.0
    warmup = users / rate
    environment = {
        "SANDBOX_OPENAI_LATENCY": options.openai_latency or 0.0,
        "SANDBOX_TWILIO_LATENCY": options.twilio_latency or 0.0,
        "COALESCE_WINDOW": 0,
    }
    planned = round_robin(constant_rate(rate, warmup + seconds), users)
    driven = through_stack("pipeline", options, planned, environment)
    report = base_report(
        "pipeline",
        f"pipeline overhead: {rate:g} messages/s from {users} users, OpenAI "
        f"{environment['SANDBOX_OPENAI_LATENCY']:g} s, Twilio "
        f"{environment['SANDBOX_TWILIO_LATENCY']:g} s, coalescing off",
        {"rate_per_second": rate, "users": users, "measured_seconds": seconds,
         "warmup_seconds": warmup, **environment},
        driven,
        after=warmup,
    )  # fmt: skip
    latency = Latency.of(driven.latencies(warmup))
    report.checks[:0] = [
        Check("reply p50", latency.p50, TARGET_P50_MS, " ms"),
        Check("reply p99", latency.p99, TARGET_P99_MS, " ms"),
    ]
    report.plot = lambda path: plots.latency(
        path,
        report.title,
        {
            "webhook to Twilio request": plots.points(driven.timed(warmup)),
            "webhook answered": plots.points(driven.run.timed(warmup)),
        },
        TARGET_P99_MS,
    )
    return report
