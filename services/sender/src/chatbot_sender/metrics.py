"""The sender's Prometheus metrics (docs/metrics.md), in one place so dashboards have one list.

Labels are fixed words and Twilio error codes, never a number, user key or text. Fixed series
are created at import; those with an error code appear with its first failure.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from chatbot_common.dlq import DEAD_LETTERS
from chatbot_common.window import WINDOW_CLOSED

__all__ = [
    "OUTREACH_SENDS",
    "RATE_LIMIT_WAIT_SECONDS",
    "RECORDS_UNWRITTEN",
    "RECORD_FAILURES",
    "REPLY_LATENCY_SECONDS",
    "REPLY_PARTS",
    "SENDS",
    "TEMPLATE_FALLBACKS",
    "TWILIO_OPERATIONS",
    "TWILIO_SECONDS",
]

TWILIO_OPERATIONS = ("messages.create", "typing_indicator.create")
_DEAD_LETTER_REASONS = (
    "malformed",
    "invalid",
    "twilio_rejected",
    "record_unavailable",
    "outside_window",
)


SENDS = Counter(
    "chatbot_outbound_sends_total",
    "Twilio sends by operation (message, template, typing), outcome (accepted, retried, rejected, "
    "skipped) and error code (empty when accepted).",
    ["operation", "outcome", "code"],
)
TWILIO_SECONDS = Histogram(
    "chatbot_twilio_request_seconds",
    "Time of one Twilio API call, by operation and outcome (ok, error).",
    ["operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15),
)
REPLY_PARTS = Histogram(
    "chatbot_reply_parts",
    "Twilio messages one reply was sent as (text parts plus media).",
    buckets=(1, 2, 3, 4, 5, 6, 8, 10, 15, 20),
)
REPLY_LATENCY_SECONDS = Histogram(
    "chatbot_reply_latency_seconds",
    "From ingress receiving the webhook a reply answers to Twilio accepting its first part.",
    # Fine where replies are (a model turn: seconds), with 30 s as a boundary for the SLO.
    buckets=(0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 45, 60, 120, 300),
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "chatbot_sender_rate_limit_wait_seconds",
    "Time a send waited for its sender's rate-limit token in the handler.",
    buckets=(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
TEMPLATE_FALLBACKS = Counter(
    "chatbot_template_fallbacks_total",
    "Re-engagement templates asked for by a closed window, by outcome: sent, skipped (already "
    "sent for this window), dead_lettered (no REENGAGE_CONTENT_SID: the message is kept in "
    "the DLQ as outside_window).",
    ["outcome"],
)
OUTREACH_SENDS = Counter(
    "chatbot_outreach_sends_total",
    "Messages the business started (POST /api/messages), as the sender finished them: sent, "
    "rejected (dead-lettered), reengaged (the window had closed).",
    ["outcome"],
)
RECORD_FAILURES = Counter(
    "chatbot_delivery_record_failures_total",
    "Writes to CHAT_DELIVERIES that failed, by step: claim (before the Twilio call: the part "
    "waits) or record (the SID of an accepted part: kept in memory and written again).",
    ["step"],
)
RECORDS_UNWRITTEN = Gauge(
    "chatbot_delivery_records_unwritten",
    "SIDs of parts Twilio accepted that CHAT_DELIVERIES has not taken yet (held in memory).",
)

for _operation in TWILIO_OPERATIONS:
    for _outcome in ("ok", "error"):
        TWILIO_SECONDS.labels(_operation, _outcome)
SENDS.labels("message", "accepted", "")
SENDS.labels("template", "accepted", "")
for _cause in ("window_closed", "63016"):
    WINDOW_CLOSED.labels(_cause)
for _outcome in ("sent", "skipped", "dead_lettered"):
    TEMPLATE_FALLBACKS.labels(_outcome)
for _outcome in ("sent", "rejected", "reengaged"):
    OUTREACH_SENDS.labels(_outcome)
SENDS.labels("typing", "accepted", "")
SENDS.labels("typing", "skipped", "disabled")
SENDS.labels("typing", "skipped", "stale")
for _step in ("claim", "record"):
    RECORD_FAILURES.labels(_step)
for _reason in _DEAD_LETTER_REASONS:
    DEAD_LETTERS.labels("sender", _reason)
