"""Voice notes into words, with OpenAI's transcription API.

The request goes through :class:`~..llm.ModelRequests` like every model call (retries, metrics,
a span, the daily token budget); the file is named with its type's extension, which the API
reads. The audio and its transcript are never logged.
"""

from __future__ import annotations

from openai import AsyncOpenAI
from pydantic import BaseModel, ConfigDict

from ..llm import ModelRequests, Usage
from .content_types import AUDIO_EXTENSIONS

__all__ = ["Transcriber"]


class _Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class _Transcription(BaseModel):
    """The fields of a transcription a turn reads (``usage`` is in seconds for whisper-1)."""

    model_config = ConfigDict(extra="ignore")

    text: str = ""
    usage: _Usage | None = None


class Transcriber:
    """Transcribes voice notes with one model."""

    def __init__(self, client: AsyncOpenAI, requests: ModelRequests, *, model: str) -> None:
        self._client = client
        self._requests = requests
        self.model = model

    async def transcribe(self, audio: bytes, content_type: str) -> tuple[str, Usage]:
        """The words of ``audio`` (of a type in :data:`~.content_types.AUDIO_EXTENSIONS`).

        Raises :class:`~..retry.ModelCallError` when the request fails for good.
        """
        filename = f"voice-note.{AUDIO_EXTENSIONS[content_type]}"
        model = self.model

        async def transcribe() -> _Transcription:
            raw = await self._client.audio.transcriptions.with_raw_response.create(
                model=model, file=(filename, audio, content_type), response_format="json"
            )
            return _Transcription.model_validate_json(raw.content)

        def describe(result: _Transcription) -> Usage:
            usage = result.usage or _Usage()
            return Usage("", model, usage.input_tokens, usage.output_tokens)

        result, usage = await self._requests.call(
            transcribe, describe, conversation_id=None, model=model, operation="transcription"
        )
        return result.text.strip(), usage
