"""Prometheus metrics of inbound media: what became of each attachment, and its downloads.

Labels are fixed words only (kind, outcome, failure kind): never a URL, a sender's type string
or a user key.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["ATTACHMENTS", "DOWNLOAD_SECONDS"]

ATTACHMENTS = Counter(
    "chatbot_media_attachments_total",
    "Attachments of inbound messages, by kind (image, audio, other) and outcome: shown (an "
    "image given to the model), transcribed, unsupported, too_large, too_many, unavailable "
    "(download failed), transcription_failed.",
    ["kind", "outcome"],
)
DOWNLOAD_SECONDS = Histogram(
    "chatbot_media_download_seconds",
    "Time of one download attempt of an attachment, by outcome (ok, refused, or the failure "
    "kind: http_401, http_404, server_error, timeout, ...).",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
