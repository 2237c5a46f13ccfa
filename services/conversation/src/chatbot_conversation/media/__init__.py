"""Inbound media: downloading attachments, transcribing voice notes, and turning them into prompts.

:class:`Transcriber` is imported from :mod:`.transcription` itself: it needs the model client,
whose settings import :mod:`.content_types`, so exporting it here would close an import cycle.
"""

from .attachments import Attachments, MediaFailure, Prepared
from .content_types import AUDIO_EXTENSIONS, IMAGE_TYPES, MediaKind, media_type
from .download import MediaDownloader, MediaRefusedError, MediaUnavailableError

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_TYPES",
    "Attachments",
    "MediaDownloader",
    "MediaFailure",
    "MediaKind",
    "MediaRefusedError",
    "MediaUnavailableError",
    "Prepared",
    "media_type",
]
