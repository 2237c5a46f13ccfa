"""WhatsApp's 24-hour window, as sender and ingress meet it: Twilio's code for a free-form
message outside it, and the count of such messages (docs/outreach.md)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["WINDOW_CLOSED", "WINDOW_CLOSED_CODE"]

WINDOW_CLOSED_CODE = 63016
"""Twilio's error for a free-form message outside the user's 24-hour window."""

WINDOW_CLOSED = Counter(
    "chatbot_window_closed_total",
    "Free-form messages that found the user's 24-hour window closed, by cause: window_closed "
    "(known before sending) and 63016 (Twilio refused the send), counted by the sender; "
    "63016_status (a failed status callback said so), counted by ingress.",
    ["cause"],
)
