"""Scenario 5, soak (only when asked): a steady load for minutes, watching every process's memory.

Messages go out at a steady rate, taking turns over the users, with the responder at 0.2 s and
default coalescing, for 10 minutes unless told otherwise. Every process's resident memory is
sampled every 5 s. A service's memory is flat when its least-squares trend, after the first
fifth of the run (imports, caches and connections warming up), grows by less than 5% of its
size (at least 2 MiB): a leak of a few kilobytes per message shows up well within 10 minutes.
nats-server (it holds the streams, which grow by design) and the sandbox (it keeps every
request it saw, for inspection) are shown but not judged.
"""

from __future__ import annotations

from bench import plots
from bench.report import Options, Report
from bench.scenario import base_report, through_stack
from bench.stats import Check, constant_rate, growth, round_robin

__all__ = ["run"]

JUDGED = ("ingress", "conversation", "sender")
WARMUP_SHARE = 0.2
"""The first fifth of the run is left out of the memory trend and of the latencies."""
MIB = 2**20


def run(options: Options) -> Report:
    minutes = options.minutes or 10.0
    rate = options.rate or 20.0
    users = options.users or 1000
    environment = {
        "SANDBOX_OPENAI_LATENCY": 0.2 if options.openai_latency is None else options.openai_latency,
        "SANDBOX_TWILIO_LATENCY": options.twilio_latency or 0.0,
    }
    planned = round_robin(constant_rate(rate, minutes * 60), users)
    driven = through_stack("soak", options, planned, environment, sample_every=5.0, quiet=30.0)
    start = driven.run.started_wall
    samples = driven.sampler.samples
    rss: dict[str, plots.Series] = {}
    for name in (name for name in samples[-1].rss if name != "bench"):
        kept = [s for s in samples if name in s.rss]
        rss[name] = ([s.at - start for s in kept], [s.rss[name] / MIB for s in kept])
    report = base_report(
        "soak",
        f"soak: {rate:g} messages/s from {users} users for {minutes:g} min, OpenAI "
        f"{environment['SANDBOX_OPENAI_LATENCY']:g} s",
        {"minutes": minutes, "rate_per_second": rate, "users": users,
         "rss_sample_seconds": 5, **environment},
        driven,
        after=min(users / rate, WARMUP_SHARE * minutes * 60),
    )  # fmt: skip
    trends = {}
    for name, (times, mib) in rss.items():
        grew = growth(times, mib, skip=WARMUP_SHARE)
        size = sum(mib) / len(mib)
        trends[name] = {"first_mib": round(mib[0], 1), "last_mib": round(mib[-1], 1),
                        "trend_growth_mib": round(grew, 2)}  # fmt: skip
        judged = name in JUDGED
        report.rows.append(
            (f"RSS {name}", f"{mib[0]:.0f} -> {mib[-1]:.0f} MiB, trend {grew:+.1f} MiB"
                            + ("" if judged else " (not judged)"))
        )  # fmt: skip
        if judged:
            limit = round(max(2.0, 0.05 * size), 1)
            report.checks.append(Check(f"{name} memory growth", round(grew, 2), limit, " MiB"))
    report.data |= {"rss": trends}
    report.plot = lambda path: plots.memory(path, report.title, rss)
    return report
