"""Twilio's incoming-message webhooks, signed as Twilio signs them, built before a run.

Signing (HMAC-SHA1 over the URL and the sorted fields, by the twilio SDK's RequestValidator)
happens here, before the clock starts, so its cost is never in a measured path. Every message
gets a fresh MessageSid, so ingress does its whole job for each one (JetStream would drop a
repeated one as a duplicate), and its text carries its number (:func:`stats.token`), which the
sandbox's echo responder repeats in the reply: that is how a reply is matched to its message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from urllib.parse import urlencode, urlsplit

from bench.loadgen import http_post
from bench.stats import Planned, token
from chatbot_devstack import inbound_form, signed, user_number
from chatbot_devstack.webhooks import MESSAGES_ROUTE

__all__ = ["signed_requests"]


def question(message: Planned) -> str:
    """The text of a planned message, unless a scenario says otherwise."""
    return f"Question {token(message.number)}: are you open on Sunday?"


def _form(message: Planned, text: str) -> dict[str, str]:
    """The fields Twilio posts for this planned message's WhatsApp text."""
    return inbound_form(text, user=user_number(message.user), profile_name=f"Bench {message.user}")


def signed_requests(
    base_url: str,
    planned: Sequence[Planned],
    auth_token: str,
    text: Callable[[Planned], str] = question,
) -> list[bytes]:
    """One complete, signed HTTP request per planned message (its ``text``), for the webhook
    at ``base_url``."""
    url = base_url.rstrip("/") + MESSAGES_ROUTE
    host = urlsplit(url).netloc
    requests = []
    for message in planned:
        form = _form(message, text(message))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            **signed(url, form, auth_token),
        }
        requests.append(http_post(host, MESSAGES_ROUTE, headers, urlencode(form).encode()))
    return requests
