"""Prometheus metrics of the console. Labels are fixed words, never user keys or numbers."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["ACTIONS", "LOGINS"]

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
for _outcome in ("ok", "refused", "throttled"):
    LOGINS.labels(_outcome)
for _action in ("lookup", "export", "reset", "handoff", "handback", "erase", "replay"):
    ACTIONS.labels(_action)
