"""Scenario 4, bursts: users who send several messages in a row, with coalescing on.

200 users each send 5 messages 100 ms apart (the users' first messages spread over 1 s), with
the default coalescing window (about 1 s). A burst should be answered in few turns (ideally one
per user) and, above all, in order: a reply must never answer a message before an earlier one
of the same user has been answered. Both are counted from the replies, whose echoed text names
every message they answer. "Earlier" is in the order ingress acknowledged the webhooks, the
order the system can know: webhooks 100 ms apart can overtake each other on the way in (so can
Twilio's), and how often that happened is shown beside.
"""

from __future__ import annotations

from collections import Counter

from bench import plots
from bench.report import Options, Report
from bench.scenario import base_report, through_stack
from bench.stats import Check, bursts, overtaken, tokens_in

__all__ = ["run"]

PER_USER = 5
GAP = 0.1


def run(options: Options) -> Report:
    users = options.users or 200
    environment = {
        "SANDBOX_OPENAI_LATENCY": options.openai_latency or 0.0,
        "SANDBOX_TWILIO_LATENCY": options.twilio_latency or 0.0,
    }
    planned = bursts(users, PER_USER, GAP, spread=1.0)
    driven = through_stack("bursts", options, planned, environment)
    accounting = driven.accounting
    by_size = Counter(len(tokens_in(reply.body)) for reply in driven.replies)
    accepted = [planned[index].number for index in driven.run.acknowledged()]
    reordered = overtaken(planned, accepted)
    report = base_report(
        "bursts",
        f"bursts: {users} users x {PER_USER} messages {GAP * 1000:g} ms apart, default "
        "coalescing",
        {"users": users, "messages_per_user": PER_USER, "gap_seconds": GAP,
         "COALESCE_WINDOW": "default", **environment},
        driven,
    )  # fmt: skip
    sizes = ", ".join(f"{size}: {count}" for size, count in sorted(by_size.items()))
    report.rows[:0] = [
        ("turns taken", f"{accounting.turns} for {len(planned)} messages "
                        f"(at best {users}, at worst {len(planned)})"),
        ("turns by messages answered", sizes),
        ("order violations (against the order ingress accepted)",
         str(accounting.order_violations)),
        ("webhooks that overtook an earlier one of their user on the way in", str(reordered)),
    ]  # fmt: skip
    report.checks.insert(0, Check("order violations", accounting.order_violations, 0, rule="=="))
    report.data |= {
        "turns": accounting.turns,
        "messages_per_turn": dict(sorted(by_size.items())),
        "order_violations": accounting.order_violations,
        "overtaken_at_ingress": reordered,
    }
    report.plot = lambda path: plots.latency(
        path, report.title, {"webhook to Twilio request": plots.points(driven.timed())}, None
    )
    return report
