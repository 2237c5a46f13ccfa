"""The raw ASGI helpers of the webhook routes."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from chatbot_ingress.asgi import parse_form

_PIECES = ["a", "=", "&", "+", "%", " ", "é", "€", "%C3", "%A9", "%E2%82", "%2", "%zz", "%26"]
_FORM_TEXT = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)
"""Bodies made of what trips a form parser: separators, escapes broken, partial or not UTF-8."""


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_an_encoded_form_parses_back_to_its_fields(fields: dict[str, str]) -> None:
    assert parse_form(urlencode(fields)) == fields


@given(st.one_of(_FORM_TEXT, st.text()))
def test_any_body_parses_as_parse_qsl_reads_it(body: str) -> None:
    assert parse_form(body) == dict(parse_qsl(body, keep_blank_values=True))


def test_a_twilio_body_keeps_blank_and_repeated_fields() -> None:
    body = "Body=&From=whatsapp%3A%2B15550001&Body=caf%C3%A9+ol%C3%A9&Broken=%zz%C3"
    assert parse_form(body) == {
        "Body": "café olé",
        "From": "whatsapp:+15550001",
        "Broken": "%zz\ufffd",
    }
