"""Twilio's incoming-message webhooks, signed as Twilio signs them, built before a run.

Signing (HMAC-SHA1 over the URL and the sorted fields, by the twilio SDK's RequestValidator)
happens here, before the clock starts, so its cost is never in a measured path. Every message
gets a fresh MessageSid, so ingress does its whole job for each one (JetStream would drop a
repeated one as a duplicate), and its text carries its number (:func:`stats.token`), which the
sandbox's echo responder repeats in the reply: that is how a reply is matched to its message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

from bench.loadgen import http_post
from bench.stats import Planned, token

__all__ = ["BUSINESS", "ROUTE", "address", "signed_requests"]

ROUTE = "/twilio/messages"
BUSINESS = "whatsapp:+14155238886"
ACCOUNT_SID = "AC" + "0" * 32


def address(user: int) -> str:
    """The WhatsApp address of a benchmark user."""
    return f"whatsapp:+1555{user:07d}"


def _form(message: Planned) -> dict[str, str]:
    """The fields Twilio posts for an incoming WhatsApp text."""
    sid = "SM" + uuid.uuid4().hex
    sender = address(message.user)
    return {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": f"Bench {message.user}",
        "MessageType": "text",
        "SmsSid": sid,
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": f"Question {token(message.number)}: are you open on Sunday?",
        "To": BUSINESS,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def signed_requests(base_url: str, planned: Sequence[Planned], auth_token: str) -> list[bytes]:
    """One complete, signed HTTP request per planned message, for the webhook at ``base_url``."""
    validator = RequestValidator(auth_token)
    url = base_url.rstrip("/") + ROUTE
    host = urlsplit(url).netloc
    requests = []
    for message in planned:
        form = _form(message)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "X-Twilio-Signature": validator.compute_signature(url, form),
        }
        requests.append(http_post(host, ROUTE, headers, urlencode(form).encode()))
    return requests
