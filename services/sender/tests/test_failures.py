"""The retry table: which Twilio answers are worth another try, and Retry-After's meaning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot_sender.failures import TwilioFailure, is_retryable, parse_retry_after

RETRY = [(429, 20429), (429, None), (400, 63018), (400, 63017), (500, 20500), (503, None)]
GIVE_UP = [
    (400, 21211),
    (400, 63003),
    (400, 63014),
    (400, 63016),
    (400, 63024),
    (400, 21617),
    (400, 21610),
    (401, 20003),
    (404, 20404),
]


@pytest.mark.parametrize(("status", "code"), RETRY)
def test_rate_limits_and_server_errors_are_retried(status: int, code: int | None) -> None:
    assert is_retryable(status, code)


@pytest.mark.parametrize(("status", "code"), GIVE_UP)
def test_other_client_errors_are_given_up(status: int, code: int) -> None:
    assert not is_retryable(status, code)


def test_no_answer_at_all_is_retried() -> None:
    timeout = TwilioFailure(status=None, code=None, kind="timeout", retry_after=None)
    assert timeout.retryable
    assert timeout.label == "timeout"
    assert TwilioFailure(status=400, code=63016, kind="http", retry_after=None).label == "63016"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("1.5", 1.5),
        ("Wed, 25 Nov 2026 08:00:30 GMT", 30.0),
        ("Wed, 25 Nov 2026 07:59:00 GMT", 0.0),
        ("86400", 900.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds
