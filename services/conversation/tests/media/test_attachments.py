"""Voice notes, photos and the attachments the assistant cannot take in, end to end.

Attachments are uploaded to the sandbox's fake Twilio (over HTTP, as the chat page does); the
service downloads them through ``TWILIO_API_BASE_URL`` with Basic auth and a redirect to the
"CDN", and transcribes and answers through the real openai SDK, so every request asserted on
here is one the service really made.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

from chatbot_common.contracts import Media
from chatbot_conversation.inputs import IMAGE_MARK
from chatbot_conversation.replies import (
    TRANSCRIPTION_FAILED,
    media_too_large,
    media_too_many,
    media_unavailable,
    media_unsupported,
)
from chatbot_sandbox.twilio.records import TwilioFault

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
"""Not a valid picture, but bytes no text decoding could pass through unchanged."""
VOICE = b"what is the weather in Lisbon"
"""The sandbox transcribes printable bytes as themselves, so the "audio" says what it means."""


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def data_url(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


async def test_a_voice_note_is_transcribed_and_its_transcript_answered(
    chat: Any, start_service: Any
) -> None:
    transcribed_before = metric(
        "chatbot_media_attachments_total", kind="audio", outcome="transcribed"
    )
    port = chat.sandbox.base_url.rsplit(":", 1)[1]
    # The "CDN" on another origin (same server, another host name): credentials must not go.
    note = await chat.upload(VOICE, "audio/ogg; codecs=opus", cdn_base=f"http://localhost:{port}")
    async with start_service():
        seq = await chat.send("", media=[note])
        (reply,) = await chat.replies(1)
        state = await chat.answered(seq)

    assert reply == f"Echo #1: [Voice note, transcribed:] {VOICE.decode()}"
    (transcription,) = chat.transcriptions()
    assert transcription.model == "gpt-transcribe"
    assert transcription.file == {
        "filename": "voice-note.ogg",
        "content_type": "audio/ogg",
        "size": len(VOICE),
    }
    (request,) = chat.model_requests()
    assert request.input == f"[Voice note, transcribed:] {VOICE.decode()}"
    api, cdn = chat.sandbox.store.twilio_media_fetches.snapshot()
    assert (api.stage, api.status_code, api.authorized) == ("api", 307, True)
    assert (cdn.stage, cdn.status_code, cdn.authorized) == ("cdn", 200, False)
    # The transcription's tokens count too: the sandbox counts a token per KB of audio and a
    # word of transcript, and for the answer the words of the input, instructions and reply.
    transcription_tokens = 1 + len(VOICE.split())
    instructions = 2  # "Answer briefly."
    answer_tokens = len(request.input.split()) + instructions + len(reply.split())
    assert state.tokens == transcription_tokens + answer_tokens
    assert await chat.dead_letters() == []
    assert (
        metric("chatbot_media_attachments_total", kind="audio", outcome="transcribed")
        == transcribed_before + 1
    )


async def test_a_photo_goes_to_the_model_as_image_input_with_its_caption(
    chat: Any, start_service: Any
) -> None:
    photo = await chat.upload(PHOTO, "image/png")
    async with start_service():
        seq = await chat.send("what is this?", media=[photo])
        (reply,) = await chat.replies(1)
        await chat.answered(seq)

    assert reply == "Echo #1: what is this?\n[image]"
    (request,) = chat.model_requests()
    assert request.input == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {
                    "type": "input_image",
                    "image_url": data_url("image/png", PHOTO),
                    "detail": "auto",
                },
            ],
        }
    ]
    assert request.images == [data_url("image/png", PHOTO)]
    assert chat.transcriptions() == []


async def test_texts_voice_notes_and_photos_coalesce_into_one_turn_in_order(
    chat: Any, start_service: Any
) -> None:
    note = await chat.upload(VOICE, "audio/mpeg")
    photo = await chat.upload(PHOTO, "image/jpeg")
    # All in the stream before the service starts: one turn answers them together.
    await chat.send("hi")
    await chat.send("", media=[note])
    await chat.send("and this", media=[photo])
    last = await chat.send("thanks")
    async with start_service():
        (reply,) = await chat.replies(1)
        await chat.answered(last)

    transcript = f"[Voice note, transcribed:] {VOICE.decode()}"
    assert reply == f"Echo #1: hi\n{transcript}\nand this\n[image]\nthanks"
    (transcription,) = chat.transcriptions()
    assert transcription.file["filename"] == "voice-note.mp3"
    (request,) = chat.model_requests()
    assert request.input == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": f"hi\n{transcript}\nand this"},
                {
                    "type": "input_image",
                    "image_url": data_url("image/jpeg", PHOTO),
                    "detail": "auto",
                },
                {"type": "input_text", "text": "thanks"},
            ],
        }
    ]


async def test_the_chat_backend_sends_image_parts_and_keeps_only_words(
    chat: Any, start_service: Any
) -> None:
    photo = await chat.upload(PHOTO, "image/png")
    async with start_service(openai_backend="chat"):
        seq = await chat.send("look", media=[photo])
        (reply,) = await chat.replies(1)
        state = await chat.answered(seq)

    assert reply == "Echo #1: look\n[image]"
    (request,) = chat.model_requests()
    assert request.input[-1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": data_url("image/png", PHOTO)}},
        ],
    }
    assert [turn.content for turn in state.history] == [f"look\n{IMAGE_MARK}", reply]


async def test_oversized_media_gets_a_polite_refusal_naming_the_limit(
    chat: Any, start_service: Any
) -> None:
    photo = await chat.upload(PHOTO * 4, "image/png")
    async with start_service(media_max_bytes=2048):
        seq = await chat.send("", media=[photo])
        (reply,) = await chat.replies(1)
        await chat.answered(seq)

    assert reply == media_too_large("photo", 2048)
    assert "2 KB" in reply
    assert chat.model_requests() == []
    assert await chat.dead_letters() == []


async def test_unsupported_and_surplus_attachments_are_told_and_the_rest_answered(
    chat: Any, start_service: Any
) -> None:
    photos = [await chat.upload(PHOTO, "image/png") for _ in range(3)]
    video = Media(url=photos[0].url.replace("/Media/", "/Media/video-"), content_type="video/mp4")
    async with start_service(media_max_count=2):
        first = await chat.send("a video", media=[video])
        (refused,) = await chat.replies(1)
        await chat.answered(first)
        second = await chat.send("three photos", media=photos)
        _, answered = await chat.replies(2)
        await chat.answered(second)

    assert refused == (
        f"{media_unsupported('videos')}\n\n"
        "Echo #1: a video\n"
        "[The user sent a file (video/mp4) that you cannot see or hear: not supported.]"
    )
    notice = media_too_many(2, 1)
    assert answered.startswith(notice + "\n\nEcho #2: three photos\n")
    assert notice == "I look at up to 2 attachments per message, so I skipped the other one."
    assert len(chat.model_requests()[1].images) == 2
    # The video was never downloaded; two photos were (each: the API URL, then the CDN copy).
    assert len(chat.sandbox.store.twilio_media_fetches) == 4
    assert await chat.dead_letters() == []


@pytest.mark.parametrize(
    ("problem", "error_code"),
    [("wrong credentials", "http_401"), ("gone", "http_404")],
)
async def test_twilio_refusing_the_media_gets_an_apology_and_a_dead_letter(
    chat: Any,
    start_service: Any,
    caplog: pytest.LogCaptureFixture,
    problem: str,
    error_code: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    dead_before = metric(
        "chatbot_dlq_messages_total", service="conversation", reason="media_unavailable"
    )
    photo = await chat.upload(PHOTO, "image/jpeg")
    settings: dict[str, Any] = {}
    if problem == "gone":
        photo = Media(url=photo.url[:-8] + "deadbeef", content_type=photo.content_type)
    else:
        settings["twilio_auth_token"] = "not-the-token"
    async with start_service(**settings):
        alone = await chat.send("", media=[photo])
        (apology,) = await chat.replies(1)
        await chat.answered(alone)
        captioned = await chat.send("see this", media=[photo])
        _, answered = await chat.replies(2)
        await chat.answered(captioned)

    assert apology == media_unavailable("photo")
    assert answered == (
        f"{media_unavailable('photo')}\n\nEcho #1: see this\n"
        "[The user sent a photo that you cannot see or hear: it could not be downloaded.]"
    )
    assert len(chat.model_requests()) == 1  # the photo alone asked the model nothing
    letters = await chat.dead_letters()
    assert [(d.reason, d.error_code, d.attempts) for d in letters] == [
        ("media_unavailable", error_code, 1)
    ] * 2
    assert [d.original_id for d in letters] == [chat.sids[alone], chat.sids[captioned]]
    assert (
        metric("chatbot_dlq_messages_total", service="conversation", reason="media_unavailable")
        == dead_before + 2
    )
    # What the service and its libraries logged (the sandbox's own access log aside).
    logged = " ".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if not record.name.startswith(("uvicorn", "chatbot_sandbox"))
    )
    assert "/Media/" not in logged
    assert "api.twilio.com" not in logged
    assert base64.b64encode(PHOTO[:30]).decode()[:20] not in logged


async def test_a_transient_media_error_is_retried(chat: Any, start_service: Any) -> None:
    retried_before = metric("chatbot_media_download_seconds_count", outcome="server_error")
    chat.sandbox.store.twilio_faults.append(
        TwilioFault(operation="media", status=503, code=20503, retry_after="0")
    )
    photo = await chat.upload(PHOTO, "image/png")
    async with start_service():
        seq = await chat.send("", media=[photo])
        (reply,) = await chat.replies(1)
        await chat.answered(seq)

    assert reply == "Echo #1: [image]"
    statuses = [f.status_code for f in chat.sandbox.store.twilio_media_fetches.snapshot()]
    assert statuses == [503, 307, 200]
    assert (
        metric("chatbot_media_download_seconds_count", outcome="server_error") == retried_before + 1
    )
    assert await chat.dead_letters() == []


async def test_a_failed_transcription_is_told_and_dead_lettered(
    chat: Any, start_service: Any
) -> None:
    chat.fault("server_error", endpoint="transcriptions", count=5)
    note = await chat.upload(VOICE, "audio/ogg")
    async with start_service(openai_max_attempts=2):
        seq = await chat.send("", media=[note])
        (reply,) = await chat.replies(1)
        await chat.answered(seq)

    assert reply == TRANSCRIPTION_FAILED
    assert [r.status_code for r in chat.transcriptions()] == [500, 500]
    assert chat.model_requests() == []
    (letter,) = await chat.dead_letters()
    assert (letter.reason, letter.error_code, letter.attempts) == (
        "llm_retries_exhausted",
        "server_error",
        2,
    )
