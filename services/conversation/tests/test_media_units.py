"""Unit tests of the media parts that need no server: URLs, settings, wording, model input."""

from __future__ import annotations

import random

import aiohttp
import pytest
from pydantic import SecretStr

from chatbot_conversation.config import ConversationSettings
from chatbot_conversation.inputs import IMAGE_MARK, Image, Prompt
from chatbot_conversation.media import MediaDownloader, MediaUnavailableError
from chatbot_conversation.mediatypes import media_type, plural_noun
from chatbot_conversation.replies import size_in_words, with_notices
from chatbot_conversation.responses_backend import turn_input
from chatbot_conversation.retry import RetryPolicy

MEDIA_PATH = "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"


def downloader(session: aiohttp.ClientSession, base_url: str | None) -> MediaDownloader:
    return MediaDownloader(
        session,
        account_sid="AC" + "0" * 32,
        auth_token=SecretStr("token"),
        base_url=base_url,
        max_bytes=1024,
        timeout=1.0,
        policy=RetryPolicy(max_attempts=1, initial=0.1, maximum=0.1, budget=1),
        rng=random.Random(1),
    )


async def test_media_urls_are_rewritten_to_the_base_url_or_must_be_twilios() -> None:
    async with aiohttp.ClientSession() as session:
        rewriting = downloader(session, "http://127.0.0.1:8090/twilio/")
        twilio = downloader(session, None)
        assert str(rewriting.locate(f"https://api.twilio.com{MEDIA_PATH}?x=1")) == (
            f"http://127.0.0.1:8090/twilio{MEDIA_PATH}?x=1"
        )
        url = f"https://api.twilio.com{MEDIA_PATH}"
        assert str(twilio.locate(url)) == url
        regional = f"https://api.dublin.ie1.twilio.com{MEDIA_PATH}"
        assert str(twilio.locate(regional)) == regional
        for untrusted in (
            f"http://api.twilio.com{MEDIA_PATH}",  # credentials never travel in clear
            f"https://api.twilio.com.evil.example{MEDIA_PATH}",
            f"https://eviltwilio.com{MEDIA_PATH}",
        ):
            with pytest.raises(MediaUnavailableError) as refused:
                twilio.locate(untrusted)
            assert refused.value.failure.kind == "untrusted_url"
            assert untrusted not in str(refused.value)
        for malformed in ("not a url", "/relative/path", "ftp://api.twilio.com/x"):
            with pytest.raises(MediaUnavailableError) as refused:
                rewriting.locate(malformed)
            assert refused.value.failure.kind == "bad_url"


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


def test_types_and_sizes_are_said_in_words() -> None:
    assert media_type("Audio/OGG; codecs=opus") == "audio/ogg"
    assert media_type("") == ""
    assert [plural_noun(t) for t in ("video/mp4", "image/webp", "application/pdf")] == [
        "videos",
        "stickers",
        "documents",
    ]
    assert [size_in_words(n) for n in (10 * 1024 * 1024, 2048, 1536, 100)] == [
        "10 MB",
        "2 KB",
        "1.5 KB",
        "100 bytes",
    ]
    assert with_notices(["a", "b", "a"], "answer") == "a\n\nb\n\nanswer"
    assert with_notices(["a"]) == "a"


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
