"""Media types: which attachments the assistant takes in, and what to call the others.

Types are normalised (``Audio/OGG; codecs=opus`` is ``audio/ogg``) and sorted into images the
model reads, audio the transcription API reads (with the file extension it goes by) and the
rest, which gets a word the user understands ("videos", "stickers", "documents").
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_TYPES",
    "MediaKind",
    "media_type",
    "plural_noun",
    "singular_noun",
]

MediaKind = Literal["image", "audio", "other"]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""Image types OpenAI's models accept as image input."""

AUDIO_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
}
"""Audio types the transcription API reads, and the file extension each is sent under."""

_STICKER = "image/webp"


def media_type(content_type: str) -> str:
    """``content_type`` without parameters, in lower case (``""`` when there is none)."""
    return content_type.split(";", 1)[0].strip().lower()


def singular_noun(kind: MediaKind) -> str:
    """What the user sent, in words: "photo", "voice note" or "file"."""
    return {"image": "photo", "audio": "voice note", "other": "file"}[kind]


def plural_noun(content_type: str) -> str:
    """What the assistant cannot open, in words: "videos", "stickers", "documents", ..."""
    kind = media_type(content_type)
    major = kind.partition("/")[0]
    if kind == _STICKER:
        return "stickers"
    if major == "video":
        return "videos"
    if major == "image":
        return "images of this type"
    if major == "audio":
        return "audio files of this type"
    if kind in ("text/vcard", "text/x-vcard"):
        return "contact cards"
    return "documents"
