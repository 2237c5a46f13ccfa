"""Cutting a reply into parts Twilio accepts, at the most natural places.

Twilio refuses a body over 1,600 characters (error 21617) and counts characters beyond the Basic
Multilingual Plane, such as most emoji, twice; length is therefore measured in UTF-16 code
units, which never undercounts. A long reply is cut greedily: each part is the longest prefix
that fits and ends at a paragraph break, else a line break, else a sentence end, else a space;
only a run of text with no space at all is cut mid-word. Cuts never fall inside a ```monospace```
block unless that block alone is longer than a part. The whitespace at a cut is dropped and
nothing else is: the parts, in order, are the text with each cut's whitespace removed.
"""

from __future__ import annotations

import re

__all__ = ["MAX_PART_LENGTH", "split_text", "text_length"]

MAX_PART_LENGTH = 1600
"""Twilio's limit for one message body."""

# Each pattern's group 1 is the whitespace a cut removes; strongest boundary first.
_BOUNDARIES = (
    re.compile(r"(\s*\n[ \t]*\n\s*)"),  # paragraph: a blank line
    re.compile(r"(\s*\n\s*)"),  # line
    # sentence: end punctuation, then closing quotes, brackets or format markers, then space
    re.compile("[.!?\u2026][\"'\u201d\u2019)\\]*_~]*(\\s+)"),
    re.compile(r"(\s+)"),  # word
)
_MONOSPACE_BLOCK = re.compile(r"```.*?```", re.DOTALL)


def text_length(text: str) -> int:
    """Length as Twilio counts it (UTF-16 code units)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def split_text(text: str, limit: int = MAX_PART_LENGTH) -> list[str]:
    """``text`` (stripped) in order-preserving parts of at most ``limit`` UTF-16 code units."""
    if limit < 2:
        raise ValueError("a part must hold at least one character of any kind")
    parts = []
    rest = text.strip()
    while rest:
        if text_length(rest) <= limit:
            parts.append(rest)
            break
        end, resume = _cut(rest, _fitting_prefix(rest, limit))
        parts.append(rest[:end])
        rest = rest[resume:]
    return parts


def _fitting_prefix(text: str, limit: int) -> int:
    """The length of the longest prefix of ``text`` within ``limit`` code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _cut(text: str, window: int) -> tuple[int, int]:
    """Where the part ends and the rest begins, for a part within ``text[:window]``."""
    blocks = []
    for block in _MONOSPACE_BLOCK.finditer(text):
        if block.start() >= window:
            break
        blocks.append(block.span())
    for protect in (True, False):
        for boundary in _BOUNDARIES:
            best: tuple[int, int] | None = None
            for match in boundary.finditer(text, 0, window + 1):
                start, end = match.span(1)
                if 0 < start <= window and not (protect and _inside(start, blocks)):
                    best = (start, end)
            if best is not None:
                return best[0], _skip_space(text, best[1])
    return window, _skip_space(text, window)


def _inside(position: int, blocks: list[tuple[int, int]]) -> bool:
    return any(start < position < end for start, end in blocks)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position
