"""What Twilio posts to a business's webhook for an incoming WhatsApp message, and its signature."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.request_validator import RequestValidator

__all__ = ["inbound_form", "signature"]


def inbound_form(
    *,
    sid: str,
    account_sid: str,
    user: str,
    to: str,
    body: str,
    media: Sequence[tuple[str, str]] = (),
    profile_name: str | None = None,
) -> dict[str, str]:
    """The fields Twilio posts for a message from ``user`` (``whatsapp:+…``) to ``to``: text,
    or files (``(url, content type)``) with a caption."""
    kind = media[0][1].split("/", 1)[0].lower() if media else "text"
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": account_sid,
        "From": user,
        "To": to,
        "Body": body,
        "WaId": user.removeprefix("whatsapp:+"),
        "NumMedia": str(len(media)),
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageType": kind if kind in ("text", "image", "audio", "video") else "document",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    if profile_name:
        form["ProfileName"] = profile_name
    return form


def signature(auth_token: str, url: str, form: dict[str, str]) -> dict[str, str]:
    """The ``X-Twilio-Signature`` header Twilio sends with ``form`` posted to ``url``."""
    return {"X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, form)}
