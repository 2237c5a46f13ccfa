"""The fake OpenAI's media: transcriptions and image input, driven by the real `openai` SDK."""

from __future__ import annotations

import base64
from collections.abc import Callable

import openai
import pytest

from chatbot_devstack.embedded import RunningSandbox
from chatbot_sandbox.openai.records import FaultSpec

MODEL = "gpt-test"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n-not-really").decode()
DATA_URL = f"data:image/png;base64,{PNG}"
Connect = Callable[..., openai.AsyncOpenAI]


async def test_a_transcription_is_deterministic_and_recorded(
    sandbox: RunningSandbox, connect: Connect
) -> None:
    async with connect(sandbox) as client:
        spoken = await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("note.ogg", b"hello there", "audio/ogg")
        )
        noise = await client.audio.transcriptions.create(
            model="whisper-1", file=("note.webm", b"\x1aE\xdf\xa3\x00\x01", "audio/webm")
        )
        plain = await client.audio.transcriptions.create(
            model="gpt-4o-transcribe",
            file=("note.mp3", b"just text", "audio/mpeg"),
            response_format="json",
        )

    assert spoken.text == "hello there"
    assert spoken.usage is not None
    assert spoken.usage.type == "tokens"
    assert noise.text == "transcript of 6 bytes of audio/webm"
    assert plain.text == "just text"
    first, second, third = sandbox.store.openai_requests.snapshot()
    assert first.endpoint == "audio.transcriptions.create"
    assert (first.model, first.status_code) == ("gpt-4o-mini-transcribe", 200)
    assert first.file == {"filename": "note.ogg", "content_type": "audio/ogg", "size": 11}
    assert second.file == {"filename": "note.webm", "content_type": "audio/webm", "size": 6}
    assert third.model == "gpt-4o-transcribe"


async def test_a_transcription_takes_faults(sandbox: RunningSandbox, connect: Connect) -> None:
    sandbox.store.openai_faults.append(
        FaultSpec(kind="server_error", endpoint="transcriptions").queued()
    )
    async with connect(sandbox) as client:
        with pytest.raises(openai.InternalServerError):
            await client.audio.transcriptions.create(
                model="whisper-1", file=("note.ogg", b"x", "audio/ogg")
            )
        # A model fault (the default endpoint) does not hit transcriptions.
        sandbox.store.openai_faults.append(FaultSpec(kind="server_error").queued())
        ok = await client.audio.transcriptions.create(
            model="whisper-1", file=("note.ogg", b"fine", "audio/ogg")
        )
    assert ok.text == "fine"
    assert [r.status_code for r in sandbox.store.openai_requests.snapshot()] == [500, 200]
    assert len(sandbox.store.openai_faults) == 1


async def test_image_input_is_echoed_and_recorded(
    sandbox: RunningSandbox, connect: Connect
) -> None:
    async with connect(sandbox) as client:
        response = await client.responses.create(
            model=MODEL,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this?"},
                        {"type": "input_image", "image_url": DATA_URL, "detail": "auto"},
                    ],
                }
            ],
        )
        completion = await client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "and this?"},
                        {"type": "image_url", "image_url": {"url": DATA_URL}},
                    ],
                }
            ],
        )

    assert response.output_text == "Echo #1: what is this?\n[image]"
    assert completion.choices[0].message.content == "Echo #1: and this?\n[image]"
    responded, completed = sandbox.store.openai_requests.snapshot()
    assert responded.images == completed.images == [DATA_URL]
