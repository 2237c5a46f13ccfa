"""The wire contracts: round trips, and clear errors for malformed payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chatbot_common.contracts import (
    ContractError,
    DeadLetter,
    DeliveryStatus,
    InboundMessage,
    Location,
    Media,
    OutboundMessage,
    decode,
    encode,
)

RECEIVED = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

SAMPLES = [
    InboundMessage(
        message_sid="SM1",
        account_sid="AC1",
        from_="whatsapp:+15550001111",
        to="whatsapp:+15550002222",
        body="hello",
        profile_name="Ana",
        wa_id="15550001111",
        media=(Media(url="https://api.twilio.com/m/1", content_type="image/jpeg"),),
        location=Location(latitude=52.5, longitude=13.4, label="Office"),
        received_at=RECEIVED,
        extra={"SmsStatus": "received"},
    ),
    OutboundMessage(
        kind="text",
        to="whatsapp:+15550001111",
        from_="whatsapp:+15550002222",
        body="hi",
        in_reply_to=("SM1",),
        idempotency_key="abc.1",
        received_at=RECEIVED,
    ),
    OutboundMessage(kind="typing", to="whatsapp:+1", in_reply_to=("SM1",), idempotency_key="k"),
    DeliveryStatus(message_sid="SM2", account_sid="AC1", status="delivered", received_at=RECEIVED),
    DeadLetter(
        service="sender",
        reason="twilio_rejected",
        error_code="63016",
        attempts=1,
        original_subject="chat.outbound.abc",
        original_payload="{}",
    ),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_gives_back_the_same_message(message: object) -> None:
    assert isinstance(message, InboundMessage | OutboundMessage | DeliveryStatus | DeadLetter)
    assert decode(type(message), encode(message)) == message


def test_wire_form_uses_from_and_carries_the_version() -> None:
    wire = json.loads(encode(SAMPLES[0]))
    assert wire["v"] == 1
    assert wire["from"] == "whatsapp:+15550001111"
    assert "from_" not in wire


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"v": 2}', "v: Input should be 1"),
        (
            b'{"v":1,"message_sid":"SM1","account_sid":"AC1","to":"x",'
            b'"received_at":"2026-11-25T08:00:00Z"}',
            "from: Field required",
        ),
        (
            b'{"v":1,"message_sid":"","account_sid":"AC1","from":"a","to":"b",'
            b'"received_at":"2026-11-25T08:00:00Z"}',
            "message_sid: String should have at least 1 character",
        ),
        (
            b'{"v":1,"message_sid":"SM1","account_sid":"AC1","from":"a","to":"b",'
            b'"received_at":"2026-11-25T08:00:00Z","surprise":1}',
            "surprise: Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_inbound_is_rejected_with_the_first_problem(payload: bytes, problem: str) -> None:
    with pytest.raises(ContractError, match="invalid InboundMessage") as raised:
        decode(InboundMessage, payload)
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "text", "body": "  "}, "non-empty body"),
        ({"kind": "media"}, "at least one media URL"),
        ({"kind": "typing"}, "inbound message SID"),
        ({"kind": "fax", "body": "x"}, "kind"),
    ],
)
def test_outbound_kind_needs_its_content(fields: dict[str, str], problem: str) -> None:
    payload = json.dumps({"to": "whatsapp:+1", "idempotency_key": "k", **fields}).encode()
    with pytest.raises(ContractError, match=problem):
        decode(OutboundMessage, payload)
