"""Cutting a reply into parts Twilio accepts, at the most natural places.

At most 1,600 UTF-16 code units a part, cut at a paragraph, line, sentence, space or grapheme
boundary; formatting spans cut in two are closed and reopened (docs/sender.md, *Splitting*).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

import regex  # type: ignore[import-untyped]

__all__ = ["MAX_PART_LENGTH", "Piece", "split_pieces", "split_text", "text_length"]

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
_MARKER_OR_PARAGRAPH = re.compile(r"[*_~]|\n[ \t]*\n")
_GRAPHEME = regex.compile(r"\X")


class Piece(NamedTuple):
    """One part: a slice of the text (``body``) with the span markers a cut added around it."""

    reopen: str
    body: str
    close: str

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


def text_length(text: str) -> int:
    """Length as Twilio counts it (UTF-16 code units)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def split_text(text: str, limit: int = MAX_PART_LENGTH) -> list[str]:
    """``text`` (stripped) in order-preserving parts of at most ``limit`` UTF-16 code units."""
    return [piece.text for piece in split_pieces(text, limit)]


def split_pieces(text: str, limit: int = MAX_PART_LENGTH) -> list[Piece]:
    """The parts of ``text`` as pieces: the bodies, in order, are the text less each cut's space."""
    if limit < 2:
        raise ValueError("a part must hold at least one character of any kind")
    layout = _Layout(text.strip())
    pieces = []
    position, reopen = 0, ""
    while position < len(layout.text):
        room = limit - text_length(reopen)
        if layout.length(position, len(layout.text)) <= room:
            pieces.append(Piece(reopen, layout.text[position:], ""))
            break
        end, resume, carried = layout.cut(position, room, limit)
        close = "".join(span.closer for span in reversed(carried))
        pieces.append(Piece(reopen, layout.text[position:end], close))
        position, reopen = resume, "".join(span.opener for span in carried)
    return pieces


@dataclass(frozen=True)
class _Span:
    """A formatting span: ``text[start:end]``, its content (stripped) ``text[inner:outer]``."""

    start: int
    inner: int
    outer: int
    end: int
    opener: str
    closer: str


class _Layout:
    """The text with what a cut must respect: code unit offsets, cluster boundaries, spans."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._units = [0, *accumulate(2 if ord(char) > 0xFFFF else 1 for char in text)]
        self._bounds = [match.start() for match in _GRAPHEME.finditer(text)] + [len(text)]
        blocks = [_span(text, *block.span(), 3) for block in _MONOSPACE_BLOCK.finditer(text)]
        # Spans of one kind never overlap: each list is in order of start and of end alike.
        self._kinds = [blocks, *_inline_spans(text, blocks)]
        self._starts = [[span.start for span in spans] for spans in self._kinds]

    def length(self, start: int, end: int) -> int:
        return self._units[end] - self._units[start]

    def cut(self, position: int, room: int, limit: int) -> tuple[int, int, list[_Span]]:
        """Where a part from ``position`` ends, where the next begins, and the spans carried over.

        The part, with the closing markers of the spans carried, fits in ``room``; the next part
        must still hold a character after their opening markers (at most 7 code units each way).
        """
        budget = room
        while budget >= 2:
            end, resume = self._choose(position, self._fitting(position, budget))
            carried = self._carried(end, resume)
            if sum(len(span.opener) for span in carried) > limit - 2:
                carried = []
            used = self.length(position, end) + sum(len(span.closer) for span in carried)
            if used <= room:
                return end, resume, carried
            budget -= used - room
        end, resume = self._choose(position, self._fitting(position, room))
        return end, resume, []

    def _fitting(self, position: int, budget: int) -> int:
        """The end of the longest slice from ``position`` within ``budget`` code units."""
        return bisect.bisect_right(self._units, self._units[position] + budget) - 1

    def _choose(self, position: int, window: int) -> tuple[int, int]:
        """The best cut within ``text[position:window]``: the strongest boundary, the latest."""
        text = self.text
        first = bisect.bisect_right(self._bounds, position)
        bounds = self._bounds[first : bisect.bisect_right(self._bounds, window)]
        # Failing a clean cut, one that leaves a span's markers unpaired, but clusters whole.
        for acceptable in (self._clean, self._whole):
            for protect in (True, False):
                for boundary in _BOUNDARIES:
                    found = boundary.finditer(text, position, window + 1)
                    for start, end in reversed([match.span(1) for match in found]):
                        if not position < start <= window or (protect and self._in_block(start)):
                            continue
                        if acceptable(start, resume := self._skip_space(end)):
                            return start, resume
            for bound in reversed(bounds):
                if acceptable(bound, resume := self._skip_space(bound)):
                    return bound, resume
        # Only a cluster longer than a part itself is left to cut, between code points.
        end = bounds[-1] if bounds else window
        return end, self._skip_space(end)

    def _whole(self, end: int, resume: int) -> bool:
        """Whether a cut keeps grapheme clusters whole."""
        return self._is_bound(end) and self._is_bound(resume)

    def _clean(self, end: int, resume: int) -> bool:
        """Whether a cut keeps clusters whole and can close and reopen every span it crosses."""
        if not self._whole(end, resume):
            return False
        return all(span.inner < end and resume < span.outer for span in self._crossed(end, resume))

    def _carried(self, end: int, resume: int) -> list[_Span]:
        """The spans with content on both sides of the cut, in the order they open."""
        crossed = self._crossed(end, resume)
        carried = [span for span in crossed if span.inner < end and resume < span.outer]
        return sorted(carried, key=lambda span: span.start)

    def _crossed(self, end: int, resume: int) -> list[_Span]:
        """The spans (one of each kind at most) begun before ``end`` and ending after ``resume``."""
        crossed = []
        for spans, starts in zip(self._kinds, self._starts, strict=True):
            index = bisect.bisect_left(starts, end) - 1
            if index >= 0 and resume < spans[index].end:
                crossed.append(spans[index])
        return crossed

    def _is_bound(self, position: int) -> bool:
        index = bisect.bisect_left(self._bounds, position)
        return index < len(self._bounds) and self._bounds[index] == position

    def _in_block(self, position: int) -> bool:
        index = bisect.bisect_left(self._starts[0], position) - 1
        return index >= 0 and position < self._kinds[0][index].end

    def _skip_space(self, position: int) -> int:
        while position < len(self.text) and self.text[position].isspace():
            position += 1
        return position


def _inline_spans(text: str, blocks: list[_Span]) -> list[list[_Span]]:
    """The ``*``, ``_`` and ``~`` spans outside monospace, as WhatsApp reads them.

    An opening marker follows no letter or digit and precedes a non-space; its closing marker,
    the next that may close it in the same paragraph, follows a non-space and precedes no
    letter or digit. One pass over the markers, however many never close.
    """
    masked = list(text)
    for block in blocks:
        masked[block.start : block.end] = "x" * (block.end - block.start)
    spans: dict[str, list[_Span]] = {marker: [] for marker in "*_~"}
    opened: dict[str, int] = {}
    for found in _MARKER_OR_PARAGRAPH.finditer("".join(masked)):
        marker, at = found[0], found.start()
        if marker not in spans:  # a blank line: nothing spans it
            opened.clear()
            continue
        before = masked[at - 1] if at else " "
        after = masked[at + 1] if at + 1 < len(masked) else " "
        if marker in opened and not (before.isspace() or before == marker or after.isalnum()):
            spans[marker].append(_span(text, opened.pop(marker), at + 1, 1))
        elif marker not in opened and not (before.isalnum() or after.isspace() or after == marker):
            opened[marker] = at
    return list(spans.values())


def _span(text: str, start: int, end: int, width: int) -> _Span:
    content = text[start + width : end - width]
    inner = start + width + len(content) - len(content.lstrip())
    outer = end - width - (len(content) - len(content.rstrip()))
    marker = text[start : start + width]
    if width > 1 and content.startswith("\n"):  # a monospace block: markers on their own lines
        return _Span(start, inner, outer, end, marker + "\n", "\n" + marker)
    return _Span(start, inner, outer, end, marker, marker)
