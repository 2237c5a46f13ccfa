"""Twilio's webhook fields → contract messages (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot_devstack import BUSINESS_NUMBER
from chatbot_ingress.webhooks import WebhookFieldError, parse_inbound, parse_status

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

BASE = {
    "MessageSid": "SM" + "a" * 32,
    "AccountSid": "AC" + "b" * 32,
    "From": "whatsapp:+15550001111",
    "To": BUSINESS_NUMBER,
}


def test_every_documented_field_is_mapped() -> None:
    form = BASE | {
        "MessagingServiceSid": "MG1",
        "Body": "hi",
        "ProfileName": "Ana",
        "WaId": "15550001111",
        "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/m/0",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/m/1",
        "MediaContentType1": "audio/ogg",
        "Latitude": "52.52",
        "Longitude": "13.40",
        "Address": "Alexanderplatz",
        "Label": "Meet here",
        "ButtonText": "Yes",
        "ButtonPayload": "confirm",
        "OriginalRepliedMessageSid": "SM" + "c" * 32,
    }
    message = parse_inbound(form, received_at=NOW)
    assert message.message_sid == BASE["MessageSid"]
    assert message.messaging_service_sid == "MG1"
    assert (message.from_, message.to, message.body) == (BASE["From"], BASE["To"], "hi")
    assert (message.profile_name, message.wa_id) == ("Ana", "15550001111")
    assert [(m.url, m.content_type) for m in message.media] == [
        ("https://api.twilio.com/m/0", "image/jpeg"),
        ("https://api.twilio.com/m/1", "audio/ogg"),
    ]
    assert message.location is not None
    assert (message.location.latitude, message.location.label) == (52.52, "Meet here")
    assert message.button is not None
    assert (message.button.text, message.button.payload) == ("Yes", "confirm")
    assert message.original_replied_message_sid == "SM" + "c" * 32
    assert message.extra == {}


def test_unknown_fields_are_kept() -> None:
    form = BASE | {"SmsStatus": "received", "ReferralBody": "ad", "ApiVersion": "2010-04-01"}
    assert parse_inbound(form, received_at=NOW).extra == {
        "SmsStatus": "received",
        "ReferralBody": "ad",
        "ApiVersion": "2010-04-01",
    }


def test_a_whatsapp_username_is_a_valid_sender() -> None:
    message = parse_inbound(BASE | {"From": "whatsapp:@ana.example"}, received_at=NOW)
    assert message.from_ == "whatsapp:@ana.example"


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_missing_required_field_is_named(missing: str) -> None:
    form = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(WebhookFieldError, match=missing):
        parse_inbound(form, received_at=NOW)


@pytest.mark.parametrize("sid", [" ", "SM 1", "SM1\nSM2", "S", "SM" + "0" * 63])
def test_a_message_sid_that_is_no_sid_is_refused(sid: str) -> None:
    with pytest.raises(WebhookFieldError, match="MessageSid"):
        parse_inbound(BASE | {"MessageSid": sid}, received_at=NOW)
    with pytest.raises(WebhookFieldError, match="MessageSid"):
        parse_status({"MessageSid": sid, "MessageStatus": "sent"}, received_at=NOW)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"NumMedia": "two"}, "NumMedia"),
        ({"Latitude": "north", "Longitude": "1"}, "Latitude"),
        ({"Latitude": "95", "Longitude": "1"}, "location.latitude"),
    ],
)
def test_malformed_fields_are_named(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(WebhookFieldError, match=problem):
        parse_inbound(BASE | fields, received_at=NOW)


def test_status_callback_with_error_code() -> None:
    form = BASE | {"MessageStatus": "failed", "ErrorCode": "63016", "ChannelPrefix": "whatsapp"}
    status = parse_status(form, received_at=NOW)
    assert (status.status, status.error_code) == ("failed", 63016)
    assert status.extra == {"ChannelPrefix": "whatsapp"}


def test_status_callback_needs_a_status() -> None:
    with pytest.raises(WebhookFieldError, match="MessageStatus"):
        parse_status(BASE, received_at=NOW)
