"""Prometheus metrics of ingress (low-cardinality labels only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["DUPLICATES", "PUBLISH_SECONDS", "REQUESTS", "REQUEST_SECONDS"]

REQUESTS = Counter(
    "chatbot_webhook_requests_total",
    "Twilio webhooks received, by route and outcome.",
    ["route", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "chatbot_webhook_request_seconds",
    "Time from receiving a webhook to answering it.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
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
