"""A turn's attachments: downloaded, transcribed or refused, and turned into prompts.

Photos go to the model as image input, voice notes as their transcript; anything else, or over
a limit, gets a notice; a download or transcription that fails for good gets an apology and a
dead letter. A segment without attachments costs nothing here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatbot_common.contracts import Media

from ..inputs import Image, Prompt, message_words, text_prompt, transcribed, unopened
from ..mailbox import Inbound
from ..replies import (
    TRANSCRIPTION_FAILED,
    media_too_large,
    media_too_many,
    media_unavailable,
    media_unsupported,
)
from ..retry import ModelCallError
from .content_types import MediaKind, media_type, plural_noun, singular_noun
from .download import Download, MediaDownloader, MediaRefusedError, MediaUnavailableError
from .metrics import ATTACHMENTS
from .transcription import Transcriber

__all__ = ["Attachments", "Download", "MediaFailure", "Prepared"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MediaFailure:
    """A message one of whose attachments failed for good: its dead letter's details."""

    item: Inbound
    reason: str
    error_code: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a segment gives the model, what the user is told first, and what is dead-lettered;
    ``files``: each message's downloaded attachments (for a person at the desk)."""

    prompts: tuple[Prompt, ...]
    answerable: bool = True
    notices: tuple[str, ...] = ()
    failures: tuple[MediaFailure, ...] = ()
    tokens: int = 0
    files: tuple[tuple[Download, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class _Taken:
    """What became of one attachment; ``content``: the model gets something of it to answer."""

    line: str | None = None
    image: Image | None = None
    notice: str | None = None
    failure: tuple[str, str, int] | None = None
    tokens: int = 0
    content: bool = False
    file: Download | None = None


@dataclass(slots=True)
class _Read:
    prompt: Prompt
    answerable: bool
    notices: list[str] = field(default_factory=list)
    failure: MediaFailure | None = None
    tokens: int = 0
    files: tuple[Download, ...] = ()


class Attachments:
    """Turns a segment's messages into prompts, dealing with their attachments."""

    def __init__(
        self,
        downloader: MediaDownloader,
        transcriber: Transcriber,
        *,
        image_types: frozenset[str],
        audio_types: frozenset[str],
        max_count: int,
    ) -> None:
        self._downloader = downloader
        self._transcriber = transcriber
        self._image_types = image_types
        self._audio_types = audio_types
        self._max_count = max_count

    async def prepare(self, segment: Sequence[Inbound]) -> Prepared:
        """The prompts of ``segment``, its attachments downloaded, transcribed or refused."""
        if not any(item.message.media for item in segment):
            return Prepared(
                tuple(text_prompt(item.message) for item in segment),
                files=tuple(() for _ in segment),
            )
        reads = await asyncio.gather(*(self._read(item) for item in segment))
        return Prepared(
            prompts=tuple(read.prompt for read in reads),
            answerable=any(read.answerable for read in reads),
            notices=tuple(notice for read in reads for notice in read.notices),
            failures=tuple(read.failure for read in reads if read.failure is not None),
            tokens=sum(read.tokens for read in reads),
            files=tuple(read.files for read in reads),
        )

    def kind_of(self, content_type: str) -> MediaKind:
        """What an attachment announced as ``content_type`` is to the assistant."""
        kind = media_type(content_type)
        if kind in self._image_types:
            return "image"
        if kind in self._audio_types:
            return "audio"
        return "other"

    async def _read(self, item: Inbound) -> _Read:
        message = item.message
        if not message.media:
            return _Read(text_prompt(message), answerable=True)
        words = message_words(message)
        looked = message.media[: self._max_count]
        skipped = message.media[self._max_count :]
        taken = await asyncio.gather(*(self._take(media) for media in looked))
        lines = [*words, *(t.line for t in taken if t.line is not None)]
        notices = [t.notice for t in taken if t.notice is not None]
        if skipped:
            for media in skipped:
                ATTACHMENTS.labels(self.kind_of(media.content_type), "too_many").inc()
            notices.append(media_too_many(self._max_count, len(skipped)))
            lines.append(unopened(f"{len(skipped)} more attachment(s)", "over the limit"))
        failure = next((t.failure for t in taken if t.failure is not None), None)
        return _Read(
            Prompt("\n".join(lines), tuple(t.image for t in taken if t.image is not None)),
            answerable=bool(words) or any(t.content for t in taken),
            notices=notices,
            failure=MediaFailure(item, *failure) if failure is not None else None,
            tokens=sum(t.tokens for t in taken),
            files=tuple(t.file for t in taken if t.file is not None),
        )

    async def _take(self, media: Media) -> _Taken:
        kind = self.kind_of(media.content_type)
        if kind == "other":
            ATTACHMENTS.labels(kind, "unsupported").inc()
            return _Taken(
                line=unopened(f"a file ({media_type(media.content_type)})", "not supported"),
                notice=media_unsupported(plural_noun(media.content_type)),
            )
        noun = singular_noun(kind)
        allowed = self._image_types if kind == "image" else self._audio_types
        try:
            download = await self._downloader.download(
                media.url, allowed=allowed, announced=media.content_type
            )
        except MediaRefusedError as refused:
            ATTACHMENTS.labels(kind, refused.reason).inc()
            log.info("attachment refused", extra={"kind": kind, "reason": refused.reason})
            if refused.reason == "too_large":
                return _Taken(
                    line=unopened(f"a {noun}", "too large"),
                    notice=media_too_large(noun, self._downloader.max_bytes),
                )
            return _Taken(
                line=unopened(f"a {noun}", "not supported"),
                notice=media_unsupported(plural_noun(media.content_type)),
            )
        except MediaUnavailableError as error:
            ATTACHMENTS.labels(kind, "unavailable").inc()
            log.warning(
                "attachment not downloaded (%s)",
                error.failure.kind,
                extra={"kind": kind, "attempts": error.attempts},
            )
            return _Taken(
                line=unopened(f"a {noun}", "it could not be downloaded"),
                notice=media_unavailable(noun),
                failure=("media_unavailable", error.failure.kind, error.attempts),
            )
        if kind == "image":
            ATTACHMENTS.labels(kind, "shown").inc()
            image = Image(download.content_type, download.data)
            return _Taken(image=image, content=True, file=download)
        return await self._transcribe(download)

    async def _transcribe(self, audio: Download) -> _Taken:
        try:
            transcript, usage = await self._transcriber.transcribe(audio.data, audio.content_type)
        except ModelCallError as error:
            ATTACHMENTS.labels("audio", "transcription_failed").inc()
            reason = "llm_retries_exhausted" if error.failure.retryable else "llm_failed"
            return _Taken(
                line=unopened("a voice note", "it could not be transcribed"),
                notice=TRANSCRIPTION_FAILED,
                failure=(reason, error.failure.kind, error.attempts),
                file=audio,
            )
        ATTACHMENTS.labels("audio", "transcribed").inc()
        return _Taken(
            line=transcribed(transcript),
            tokens=usage.input_tokens + usage.output_tokens,
            content=True,
            file=audio,
        )
