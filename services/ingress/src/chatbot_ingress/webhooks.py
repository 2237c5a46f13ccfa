"""Turning Twilio's webhook form fields into contract messages.

Twilio adds webhook fields without notice, so every field this version does not map is kept in
``extra`` rather than dropped.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import ValidationError

from chatbot_common.contracts import DeliveryStatus, InboundMessage

__all__ = ["WebhookFieldError", "parse_inbound", "parse_status"]

Form = dict[str, str]

_MESSAGE_FIELDS = {
    "MessageSid": "message_sid",
    "AccountSid": "account_sid",
    "MessagingServiceSid": "messaging_service_sid",
    "From": "from",
    "To": "to",
    "Body": "body",
    "ProfileName": "profile_name",
    "WaId": "wa_id",
    "OriginalRepliedMessageSid": "original_replied_message_sid",
}
_LOCATION_FIELDS = ("Latitude", "Longitude", "Address", "Label")
_BUTTON_FIELDS = ("ButtonText", "ButtonPayload")
_STATUS_FIELDS = {
    "MessageSid": "message_sid",
    "AccountSid": "account_sid",
    "MessageStatus": "status",
    "ErrorCode": "error_code",
    "ErrorMessage": "error_message",
    "To": "to",
    "From": "from",
}


MAX_MEDIA = 10
"""Twilio delivers at most ten attachments per WhatsApp message."""


class WebhookFieldError(ValueError):
    """A webhook field that is missing or malformed."""


def _validated[Message: (InboundMessage, DeliveryStatus)](
    model: type[Message], fields: dict[str, object]
) -> Message:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise WebhookFieldError(f"invalid field {where}: {first['msg']}") from None


_SID = re.compile(r"[A-Za-z0-9]{2,64}")
"""A Twilio SID: two letters and 32 hex digits; any letters and digits are let through."""


def _require(form: Form, *names: str) -> None:
    missing = [name for name in names if not form.get(name)]
    if missing:
        raise WebhookFieldError(f"missing required field(s): {', '.join(missing)}")
    # MessageSid becomes the Nats-Msg-Id: a blank or mangled one would defeat deduplication.
    if not _SID.fullmatch(form["MessageSid"]):
        raise WebhookFieldError("MessageSid is not a Twilio SID (letters and digits)")


def _media(form: Form) -> tuple[list[dict[str, str]], set[str]]:
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError:
        raise WebhookFieldError("NumMedia is not a number") from None
    media: list[dict[str, str]] = []
    used = {"NumMedia"}
    for index in range(min(count, MAX_MEDIA)):
        url_field, type_field = f"MediaUrl{index}", f"MediaContentType{index}"
        if form.get(url_field):
            media.append({"url": form[url_field], "content_type": form.get(type_field, "")})
        used |= {url_field, type_field}
    return media, used


def parse_inbound(form: Form, *, received_at: datetime) -> InboundMessage:
    """An :class:`InboundMessage` from the fields of a ``/twilio/messages`` webhook."""
    _require(form, "MessageSid", "From", "To")
    fields: dict[str, object] = {
        name: form[field] for field, name in _MESSAGE_FIELDS.items() if form.get(field)
    }
    fields.setdefault("account_sid", form.get("AccountSid") or "unknown")
    media, used = _media(form)
    location = None
    if form.get("Latitude") and form.get("Longitude"):
        try:
            latitude, longitude = float(form["Latitude"]), float(form["Longitude"])
        except ValueError:
            raise WebhookFieldError("Latitude/Longitude are not numbers") from None
        location = {
            "latitude": latitude,
            "longitude": longitude,
            "address": form.get("Address") or None,
            "label": form.get("Label") or None,
        }
    button = None
    if form.get("ButtonText") or form.get("ButtonPayload"):
        button = {"text": form.get("ButtonText"), "payload": form.get("ButtonPayload")}
    known = set(_MESSAGE_FIELDS) | set(_LOCATION_FIELDS) | set(_BUTTON_FIELDS) | used
    extra = {key: value for key, value in form.items() if key not in known}
    return _validated(
        InboundMessage,
        {
            **fields,
            "media": media,
            "location": location,
            "button": button,
            "received_at": received_at,
            "extra": extra,
        },
    )


def parse_status(form: Form, *, received_at: datetime) -> DeliveryStatus:
    """A :class:`DeliveryStatus` from the fields of a ``/twilio/status`` callback."""
    _require(form, "MessageSid", "MessageStatus")
    fields: dict[str, object] = {
        name: form[field] for field, name in _STATUS_FIELDS.items() if form.get(field)
    }
    fields.setdefault("account_sid", form.get("AccountSid") or "unknown")
    if "error_code" in fields:
        try:
            fields["error_code"] = int(form["ErrorCode"])
        except ValueError:
            raise WebhookFieldError("ErrorCode is not a number") from None
    extra = {key: value for key, value in form.items() if key not in _STATUS_FIELDS}
    return _validated(DeliveryStatus, {**fields, "received_at": received_at, "extra": extra})
