"""Scenario 3, concurrency: many users at once against a slow model.

The responder takes 2 s per answer; 2,000 users each send one message, spread evenly over 5 s
(400 a second). One conversation process must keep hundreds of turns in flight so that no user
waits behind another: replies should come back at about the rate messages came in, each about
2 s after it was sent. Coalescing is off: with the default 1 s window every lone message would
wait 1 s before its turn, and the 3 s target would measure that setting instead of the service.
The turns-in-flight gauge of conversation is sampled every 100 ms.
"""

from __future__ import annotations

from bench import plots
from bench.report import Options, Report
from bench.scenario import base_report, through_stack
from bench.stats import Check, Latency, constant_rate, per_second, round_robin

__all__ = ["run"]

TARGET_REPLIES_PER_SECOND = 200.0
TARGET_P99_MS = 3000.0
IN_FLIGHT = "turns in flight"
IN_HAND = "deliveries in hand"


def run(options: Options) -> Report:
    users = options.users or 2000
    seconds = options.seconds or 5.0
    environment = {
        "SANDBOX_OPENAI_LATENCY": 2.0 if options.openai_latency is None else options.openai_latency,
        "SANDBOX_TWILIO_LATENCY": options.twilio_latency or 0.0,
        "COALESCE_WINDOW": 0,
    }
    planned = round_robin(constant_rate(users / seconds, seconds), users)
    driven = through_stack(
        "concurrency",
        options,
        planned,
        environment,
        gauges={
            IN_FLIGHT: ("conversation", "chatbot_turns_in_flight"),
            IN_HAND: ("conversation", "chatbot_consumer_in_flight_messages"),
        },
        sample_every=0.1,
    )
    start = driven.run.started_wall
    arrivals = sorted(reply.at for reply in driven.replies)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    replies_per_second = round(len(arrivals) / span, 1) if span else 0.0
    per_sec = per_second(arrivals, start)
    in_flight, in_hand = (
        [(s.at - start, s.gauges[label]) for s in driven.sampler.samples if label in s.gauges]
        for label in (IN_FLIGHT, IN_HAND)
    )
    peak = max((value for _, value in in_flight), default=0.0)
    latency = Latency.of(driven.latencies())
    report = base_report(
        "concurrency",
        f"concurrency: {users} users, one message each within {seconds:g} s, OpenAI "
        f"{environment['SANDBOX_OPENAI_LATENCY']:g} s, coalescing off",
        {"users": users, "send_seconds": seconds, **environment},
        driven,
    )
    report.rows[:0] = [
        ("replies per second (first to last reply)", f"{replies_per_second:g}"),
        ("busiest second", f"{max(per_sec, default=0)} replies"),
        ("peak turns in flight (sampled)", f"{peak:g}"),
    ]
    report.checks[:0] = [
        Check("replies per second", replies_per_second, TARGET_REPLIES_PER_SECOND, "/s", ">="),
        Check("reply p99", latency.p99, TARGET_P99_MS, " ms"),
    ]
    report.data |= {
        "replies_per_second": replies_per_second,
        "replies_each_second": per_sec,
        "peak_turns_in_flight": peak,
        "turns_in_flight_samples": in_flight,
        "deliveries_in_hand_samples": in_hand,
    }
    report.plot = lambda path: plots.timeline(
        path,
        report.title,
        {
            "reply latency (ms)": {"by scheduled send": plots.points(driven.timed())},
            "replies / s": {"replies": (list(range(len(per_sec))), per_sec)},
            "in flight": {
                IN_FLIGHT: ([t for t, _ in in_flight], [v for _, v in in_flight]),
                IN_HAND: ([t for t, _ in in_hand], [v for _, v in in_hand]),
            },
        },
        dots=("reply latency (ms)",),
    )
    return report
