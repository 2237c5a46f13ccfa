"""Unit tests of the pure parts: retry policy, limits, history trimming, inputs, settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx2
import openai
import pytest

from chatbot_common.contracts import Button, DeskEvent, InboundMessage, Location, utcnow
from chatbot_conversation.config import DEFAULT_INSTRUCTIONS, ConversationSettings
from chatbot_conversation.history import estimate_tokens, trim_history
from chatbot_conversation.inputs import (
    EMPTY_MESSAGE,
    IMAGE_MARK,
    Image,
    Prompt,
    command_of,
    text_prompt,
)
from chatbot_conversation.limits import check_budget, check_rate, spend_tokens
from chatbot_conversation.mailbox import Entry, FromDesk, Inbound, Mailbox, next_segment
from chatbot_conversation.responses_backend import turn_input
from chatbot_conversation.retry import Failure, RetryPolicy, classify, retry_after
from chatbot_conversation.state import ChatTurn
from chatbot_devstack import BUSINESS_NUMBER

URL = "https://api.openai.com/v1/responses"


def status_error(
    status: int, code: str | None, headers: dict[str, str] | None = None, kind: str = "x"
) -> openai.APIStatusError:
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("POST", URL))
    body = {"message": "m", "type": kind, "param": None, "code": code}
    classes: dict[int, type[openai.APIStatusError]] = {
        400: openai.BadRequestError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
    }
    return classes.get(status, openai.InternalServerError)("m", response=response, body=body)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            status_error(429, "rate_limit_exceeded", {"retry-after-ms": "250"}),
            ("rate_limited", True, 0.25),
        ),
        (
            status_error(429, "insufficient_quota", kind="insufficient_quota"),
            ("insufficient_quota", False, None),
        ),
        (status_error(500, None, {"retry-after": "2"}), ("server_error", True, 2.0)),
        (status_error(503, None), ("server_error", True, None)),
        (status_error(400, "conversation_locked"), ("conversation_locked", True, None)),
        (status_error(400, "invalid_value"), ("rejected", False, None)),
        (status_error(404, None), ("rejected", False, None)),
        (openai.APITimeoutError(httpx2.Request("POST", URL)), ("timeout", True, None)),
        (
            openai.APIConnectionError(request=httpx2.Request("POST", URL)),
            ("connection", True, None),
        ),
    ],
)
def test_errors_are_sorted_into_transient_and_permanent(
    error: openai.OpenAIError, expected: tuple[str, bool, float | None]
) -> None:
    failure = classify(error)
    assert (failure.kind, failure.retryable, failure.retry_after) == expected


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "3"}) == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after({"retry-after": later}) or 0) <= 30
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_backoff_doubles_with_jitter_is_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=10, initial=0.5, maximum=4.0, budget=60)
    rng = random.Random(7)
    plain = Failure("server_error", retryable=True)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        delays = [policy.delay(attempt, plain, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered
    asked = Failure("rate_limited", retryable=True, retry_after=10.0)
    assert policy.delay(1, asked, rng) == 10.0


def test_the_rate_limit_counts_messages_per_minute_and_notifies_once() -> None:
    now = utcnow()
    window, verdict = check_rate(None, now=now, messages=2, limit=3)
    assert (verdict.admitted, verdict.refused, verdict.notify) == (2, 0, False)
    # A segment crossing the limit: what is within it is admitted, the rest refused, told.
    window, verdict = check_rate(window, now=now, messages=2, limit=3)
    assert (verdict.admitted, verdict.refused, verdict.notify) == (1, 1, True)
    window, verdict = check_rate(window, now=now + timedelta(seconds=30), messages=1, limit=3)
    assert (verdict.admitted, verdict.refused, verdict.notify) == (0, 1, False)
    window, verdict = check_rate(window, now=now + timedelta(seconds=61), messages=1, limit=3)
    assert (verdict.admitted, verdict.refused) == (1, 0)
    assert window is not None
    assert (window.messages, window.notified) == (1, False)
    assert check_rate(None, now=now, messages=100, limit=0)[1].admitted == 100
    # A burst far over the limit in one segment: the first `limit` are answered.
    _, verdict = check_rate(None, now=now, messages=200, limit=20)
    assert (verdict.admitted, verdict.refused, verdict.notify) == (20, 180, True)


def test_the_token_budget_is_per_day_and_notifies_once() -> None:
    today = utcnow().date()
    budget = spend_tokens(None, today=today, tokens=100)
    budget, verdict = check_budget(budget, today=today, limit=100)
    assert (verdict.allowed, verdict.notify) == (False, True)
    budget, verdict = check_budget(budget, today=today, limit=100)
    assert (verdict.allowed, verdict.notify) == (False, False)
    budget, verdict = check_budget(budget, today=today + timedelta(days=1), limit=100)
    assert verdict.allowed
    assert budget is not None
    assert budget.tokens == 0
    assert check_budget(None, today=today, limit=0)[1].allowed


def turns(*contents: str) -> tuple[ChatTurn, ...]:
    roles = ("user", "assistant")
    return tuple(ChatTurn(role=roles[i % 2], content=c) for i, c in enumerate(contents))


def test_history_keeps_the_newest_messages_in_budget_starting_with_a_user() -> None:
    history = turns("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)  # 14 tokens each
    assert estimate_tokens("a" * 40) == 14
    assert trim_history(history, 1000) == history
    assert trim_history(history, 42) == history[2:]  # 3 fit, and they start with a user
    assert trim_history(history, 28) == history[4:]  # 2 fit, but that starts with an answer
    assert trim_history(history, 10) == ()


def inbound(body: str, **fields: object) -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "message_sid": "SM1",
            "account_sid": "AC1",
            "from": "whatsapp:+15550000001",
            "to": BUSINESS_NUMBER,
            "body": body,
            "received_at": utcnow(),
        }
        | fields
    )


def test_commands_are_whole_messages_in_any_case() -> None:
    assert command_of(inbound("/reset")) == "reset"
    assert command_of(inbound("  /HELP \n")) == "help"
    assert command_of(inbound("please /reset")) is None
    assert command_of(inbound("/resets")) is None


def test_locations_and_buttons_are_told_in_words() -> None:
    def text(message: InboundMessage) -> str:
        return text_prompt(message).text

    assert text(inbound("hi")) == "hi"
    assert text(inbound("")) == EMPTY_MESSAGE
    place = Location(latitude=1.5, longitude=2.5, label="Home", address="1 Main St")
    assert text(inbound("", location=place)) == (
        "[The user shared a location: Home, 1 Main St (latitude 1.5, longitude 2.5)]"
    )
    bare = Location(latitude=-3.25, longitude=40.0)
    assert text(inbound("meet here", location=bare)) == (
        "meet here\n[The user shared a location: latitude -3.25, longitude 40.0]"
    )
    # WhatsApp repeats a quick reply's text in the body: the model reads the press once.
    yes = Button(text="Yes", payload="confirm_order_17")
    assert text(inbound("Yes", button=yes)) == (
        '[The user tapped the button "Yes" (payload: confirm_order_17)]'
    )
    assert text(inbound("", button=Button(payload="menu"))) == '[The user tapped the button "menu"]'


def test_a_command_or_a_desk_event_is_a_segment_of_its_own() -> None:
    where = {"subject": "chat.inbound.k", "data": b"", "headers": {}, "stored_at": utcnow()}

    def item(seq: int, body: str) -> Entry:
        if body == "desk":
            event = DeskEvent(
                desk="chatwoot",
                event="handback",
                conversation="1",
                delivery_id=f"d{seq}",
                received_at=utcnow(),
            )
            return FromDesk(seq=seq, event=event, **where)  # type: ignore[arg-type]
        return Inbound(seq=seq, message=inbound(body), **where)  # type: ignore[arg-type]

    batch = [item(1, "a"), item(2, "b"), item(3, "/reset"), item(4, "c"), item(5, "desk")]
    cuts = []
    while batch:
        segment, batch = next_segment(batch)
        cuts.append([i.seq for i in segment])
    assert cuts == [[1, 2], [3], [4], [5]]
    segment, rest = next_segment([item(6, "d"), item(7, "desk")])
    assert ([i.seq for i in segment], [i.seq for i in rest]) == ([6], [7])
    assert next_segment([]) == ([], [])


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("USER_KEY_SECRET", "secret")
    monkeypatch.setenv("OPENAI_BACKEND", "chat")
    monkeypatch.setenv("COALESCE_WINDOW", "0")
    monkeypatch.setenv("USER_RATE_LIMIT", "5")
    settings = ConversationSettings()
    assert (settings.openai_backend, settings.coalesce_window, settings.user_rate_limit) == (
        "chat",
        0.0,
        5,
    )
    assert settings.instructions == DEFAULT_INSTRUCTIONS
    assert settings.inbound_ack_wait == 120.0

    instructions = tmp_path / "instructions.txt"
    instructions.write_text("Be a pirate.\n")
    monkeypatch.setenv("OPENAI_INSTRUCTIONS_FILE", str(instructions))
    assert ConversationSettings().instructions == "Be a pirate."
    monkeypatch.setenv("OPENAI_INSTRUCTIONS_FILE", str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="cannot read the instructions file"):
        ConversationSettings()


def test_media_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("USER_KEY_SECRET", "secret")
    defaults = ConversationSettings()
    assert defaults.media_image_types == {"image/jpeg", "image/png"}
    assert "audio/ogg" in defaults.media_audio_types
    assert defaults.twilio_account_sid is None
    assert defaults.openai_transcription_model == "gpt-transcribe"

    monkeypatch.setenv("MEDIA_IMAGE_TYPES", " Image/JPEG ,image/webp; q=1,")
    monkeypatch.setenv("MEDIA_AUDIO_TYPES", "audio/ogg")
    monkeypatch.setenv("MEDIA_MAX_BYTES", "2048")
    settings = ConversationSettings()
    assert settings.media_image_types == {"image/jpeg", "image/webp"}
    assert settings.media_audio_types == {"audio/ogg"}
    assert settings.media_max_bytes == 2048

    monkeypatch.setenv("MEDIA_AUDIO_TYPES", "audio/ogg,audio/amr")
    with pytest.raises(ValueError, match="cannot transcribe audio/amr"):
        ConversationSettings()
    monkeypatch.setenv("MEDIA_AUDIO_TYPES", "audio/ogg")
    monkeypatch.setenv("MEDIA_IMAGE_TYPES", "image/heic")
    with pytest.raises(ValueError, match="cannot read images of type image/heic"):
        ConversationSettings()
    monkeypatch.setenv("MEDIA_IMAGE_TYPES", "image/png")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    with pytest.raises(ValueError, match="set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"):
        ConversationSettings()


def test_a_turns_input_is_text_until_an_image_comes_then_parts_in_order() -> None:
    assert turn_input([Prompt("one"), Prompt("two")]) == "one\ntwo"
    image = Image("image/png", b"\x00\x01")
    assert image.data_url() == "data:image/png;base64,AAE="
    part = {"type": "input_image", "image_url": "data:image/png;base64,AAE=", "detail": "auto"}
    given = turn_input([Prompt("one"), Prompt("", (image, image)), Prompt("two"), Prompt("x")])
    assert given == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "one"},
                part,
                part,
                {"type": "input_text", "text": "two\nx"},
            ],
        }
    ]
    assert Prompt("caption", (image,)).as_text() == f"caption\n{IMAGE_MARK}"
    assert Prompt("", (image,)).as_text() == IMAGE_MARK


def test_a_desk_event_does_not_wait_for_the_coalescing_window() -> None:
    mailbox = Mailbox(None, coalesce_window=1.0)  # type: ignore[arg-type]  # no reads here
    where = {"subject": "chat.inbound.k", "data": b"", "headers": {}, "stored_at": utcnow()}
    event = DeskEvent(
        desk="chatwoot",
        event="agent_message",
        conversation="1",
        delivery_id="d1",
        body="hi",
        received_at=utcnow(),
    )
    person = FromDesk(seq=1, event=event, **where)  # type: ignore[arg-type]
    user = Inbound(seq=2, message=inbound("hello"), **where)  # type: ignore[arg-type]
    assert mailbox.wait_before([person, user]) == 0.0
    assert 0.9 < mailbox.wait_before([user, person]) <= 1.0


def test_a_word_that_opts_out_or_in_is_a_segment_of_its_own() -> None:
    where = {"subject": "chat.inbound.k", "data": b"", "headers": {}, "stored_at": utcnow()}
    batch: list[Entry] = [
        Inbound(seq=seq, message=inbound(body), **where)  # type: ignore[arg-type]
        for seq, body in enumerate(("a", " STOP ", "b", "start"), start=1)
    ]
    cuts = []
    while batch:
        segment, batch = next_segment(batch, words=frozenset({"stop", "start"}))
        cuts.append([i.seq for i in segment])
    assert cuts == [[1], [2], [3], [4]]
    burst: list[Entry] = [
        Inbound(seq=seq, message=inbound(body), **where)  # type: ignore[arg-type]
        for seq, body in enumerate(("a", "stop it", "b"), start=1)
    ]
    segment, rest = next_segment(burst, words=frozenset({"stop"}))
    assert ([i.seq for i in segment], rest) == ([1, 2, 3], [])  # only a whole message counts
