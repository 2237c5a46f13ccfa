"""Prometheus metrics of handoffs. Labels are fixed words, never user keys or numbers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DESK_ERRORS",
    "DESK_EVENTS_IGNORED",
    "FORWARDED",
    "HANDOFFS_ENDED",
    "HANDOFFS_STARTED",
    "HANDOFF_SECONDS",
    "OLDEST_WAIT",
    "USERS_WITH_A_PERSON",
]

HANDOFFS_STARTED = Counter(
    "chatbot_handoffs_started_total",
    "Users handed to a person, by reason: keyword, model, operator.",
    ["reason"],
)
HANDOFFS_ENDED = Counter(
    "chatbot_handoffs_ended_total",
    "Users handed back to the bot, by reason: resolved, pending (the desk), idle, operator.",
    ["reason"],
)
HANDOFF_SECONDS = Histogram(
    "chatbot_handoff_seconds",
    "Time a user spent with a person, from handoff to hand-back.",
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800),
)
FORWARDED = Counter(
    "chatbot_handoff_messages_total",
    "Messages passed between a user and the person who has them, by direction: to_desk, to_user.",
    ["direction"],
)
DESK_ERRORS = Counter(
    "chatbot_desk_errors_total",
    "Desk requests that failed for good (after the retries), by operation: open, forward, close.",
    ["operation"],
)
DESK_EVENTS_IGNORED = Counter(
    "chatbot_desk_events_ignored_total",
    "Desk events for a user who is not with that desk conversation (any more), by event.",
    ["event"],
)
USERS_WITH_A_PERSON = Gauge(
    "chatbot_handoff_users",
    "Users handed to a person now (as this replica last looked).",
)
OLDEST_WAIT = Gauge(
    "chatbot_handoff_oldest_wait_seconds",
    "Seconds the longest-waiting handed-off user has waited for a person's answer.",
)
for _reason in ("keyword", "model", "operator"):
    HANDOFFS_STARTED.labels(_reason)
for _reason in ("resolved", "pending", "idle", "operator"):
    HANDOFFS_ENDED.labels(_reason)
for _direction in ("to_desk", "to_user"):
    FORWARDED.labels(_direction)
for _operation in ("open", "forward", "close"):
    DESK_ERRORS.labels(_operation)
for _event in ("agent_message", "handback", "idle_check", "handoff"):
    DESK_EVENTS_IGNORED.labels(_event)
