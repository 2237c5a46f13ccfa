"""Prometheus metrics of ingress (low-cardinality labels only).

Every series is created at import; ``error_code`` takes Twilio's numeric codes only. The
webhook paths' series are looked up once here (:data:`ROUTE_SERIES`,
:data:`PUBLISH_SECONDS_BY_STREAM`, :data:`DESK_SERIES`): ``labels()`` costs more than the
update itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from chatbot_common.window import WINDOW_CLOSED

__all__ = [
    "DELIVERY_STATUSES",
    "DESKS",
    "DESK_OUTCOMES",
    "DESK_SERIES",
    "DESK_WEBHOOKS",
    "DUPLICATES",
    "OUTCOMES",
    "PUBLISH_SECONDS",
    "PUBLISH_SECONDS_BY_STREAM",
    "REQUESTS",
    "REQUEST_SECONDS",
    "ROUTES",
    "ROUTE_SERIES",
    "STREAMS",
    "TWILIO_STATUSES",
    "RouteSeries",
    "delivery_status_labels",
]

ROUTES = ("/twilio/messages", "/twilio/status")
OUTCOMES = (
    "accepted",
    "duplicate",
    "forbidden",
    "bad_request",
    "unsupported_media_type",
    "too_large",
    "unavailable",
    "not_allowed",
    "request_timeout",
    "client_disconnected",
)
"""The ``outcome`` values of ``chatbot_webhook_requests_total``."""
DESKS = ("chatwoot", "webhook")
DESK_OUTCOMES = (
    "published",
    "duplicate",
    "ignored",
    "unknown_conversation",
    "unauthenticated",
    "malformed",
    "unavailable",
)
"""The ``outcome`` values of ``chatbot_desk_webhooks_total``."""
STREAMS = ("CHAT_INBOUND", "CHAT_OUTBOUND", "CHAT_EVENTS")
TWILIO_STATUSES = (
    "accepted",
    "scheduled",
    "canceled",
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "read",
    "partially_delivered",
)
"""Twilio's MessageStatus values; any other becomes ``other`` in the metric."""

REQUESTS = Counter(
    "chatbot_webhook_requests_total",
    "Twilio webhooks received, by route and outcome.",
    ["route", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "chatbot_webhook_request_seconds",
    "Time from receiving a webhook to answering it.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PUBLISH_SECONDS = Histogram(
    "chatbot_nats_publish_seconds",
    "Time from publishing to JetStream to its PubAck.",
    ["stream"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
DUPLICATES = Counter(
    "chatbot_webhook_duplicates_total",
    "Webhooks JetStream dropped as repeats of an earlier delivery, by route.",
    ["route"],
)
DELIVERY_STATUSES = Counter(
    "chatbot_delivery_statuses_total",
    "Twilio status callbacks accepted (repeats not counted), by status and Twilio error code "
    "(empty when none).",
    ["status", "error_code"],
)

DESK_WEBHOOKS = Counter(
    "chatbot_desk_webhooks_total",
    "Helpdesk webhooks received, by desk and outcome.",
    ["desk", "outcome"],
)


@dataclass(frozen=True)
class RouteSeries:
    """The series a webhook on one route updates."""

    requests: Mapping[str, Counter]
    """``chatbot_webhook_requests_total`` by outcome."""
    seconds: Histogram
    duplicates: Counter

    @classmethod
    def of(cls, route: str) -> RouteSeries:
        return cls(
            requests={outcome: REQUESTS.labels(route, outcome) for outcome in OUTCOMES},
            seconds=REQUEST_SECONDS.labels(route),
            duplicates=DUPLICATES.labels(route),
        )


ROUTE_SERIES = {route: RouteSeries.of(route) for route in ROUTES}
PUBLISH_SECONDS_BY_STREAM = {stream: PUBLISH_SECONDS.labels(stream) for stream in STREAMS}
DESK_SERIES = {
    desk: {outcome: DESK_WEBHOOKS.labels(desk, outcome) for outcome in DESK_OUTCOMES}
    for desk in DESKS
}
"""``chatbot_desk_webhooks_total`` by desk, then outcome."""
for _status in TWILIO_STATUSES:
    DELIVERY_STATUSES.labels(_status, "")

_KNOWN_STATUSES = frozenset(TWILIO_STATUSES)


def delivery_status_labels(status: str, error_code: int | None) -> tuple[str, str]:
    """The bounded label values of one status callback: a known status, a Twilio code."""
    code = "" if error_code is None else str(error_code) if 0 < error_code < 100_000 else "other"
    return (status if status in _KNOWN_STATUSES else "other", code)


WINDOW_CLOSED.labels("63016_status")
