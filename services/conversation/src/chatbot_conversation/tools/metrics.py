"""Prometheus metrics of tool calls. Labels are the configured function names and fixed words,
never arguments, outputs or user keys."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["TOOL_CALLS", "TOOL_CALL_SECONDS", "TOOL_ROUNDS"]

TOOL_CALLS = Counter(
    "chatbot_tool_calls_total",
    "Function calls the model asked for, by tool (unknown: a name no tool has) and outcome: ok, "
    "invalid_arguments, unknown_tool, client_error (4xx, 3xx), timeout, rate_limited, "
    "server_error, connection (after the retries), deadline (cut by the turn's deadline), "
    "internal_error.",
    ["tool", "outcome"],
)
TOOL_CALL_SECONDS = Histogram(
    "chatbot_tool_call_seconds",
    "Time of one function call, retries included, by tool.",
    ["tool"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
TOOL_ROUNDS = Histogram(
    "chatbot_turn_tool_rounds",
    "Tool rounds of each model-answered turn, when tools are configured (0: answered at once).",
    buckets=(0, 1, 2, 3, 4, 6, 8, 12, 20, 50),
)
