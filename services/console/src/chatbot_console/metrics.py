"""Prometheus metrics of the console. Labels are fixed words, never user keys or numbers."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["ACTIONS", "LOGINS", "OUTREACH"]

LOGINS = Counter(
    "chatbot_console_logins_total",
    "Logins to the console's page, by outcome: ok, refused (a wrong token), throttled.",
    ["outcome"],
)
ACTIONS = Counter(
    "chatbot_console_actions_total",
    "What operators did through the console, by action (each one also an audit event).",
    ["action"],
)
OUTREACH = Counter(
    "chatbot_outreach_requests_total",
    "Requests to send a message the business starts (POST /api/messages), by outcome: queued, "
    "replayed, opted_out, outside_window, invalid, rate_limited, key_reused, unavailable.",
    ["outcome"],
)
for _outcome in ("ok", "refused", "throttled"):
    LOGINS.labels(_outcome)
for _action in ("lookup", "export", "reset", "handoff", "handback", "erase", "replay", "outreach"):
    ACTIONS.labels(_action)
