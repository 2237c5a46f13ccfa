"""Media types and sizes, said in words."""

from __future__ import annotations

from chatbot_conversation.media.content_types import media_type, plural_noun
from chatbot_conversation.replies import size_in_words, with_notices


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
