"""Splitting long replies: every part fits, nothing is lost or reordered, cuts fall naturally."""

from __future__ import annotations

import functools
import re

import regex  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot_sender.splitting import MAX_PART_LENGTH, Piece, split_pieces, split_text, text_length

LETTERS = "abcdefghij*_~.!?,;😀é\u00a0"
SEPARATOR = st.sampled_from([" ", "  ", "\n", "\n\n", " \n \n ", ". ", "! ", "\t"])


def prose(letters: str) -> st.SearchStrategy[str]:
    """Words of ``letters`` with every kind of gap between them."""
    word = st.text(alphabet=st.sampled_from(letters), min_size=1, max_size=30)
    return st.lists(st.tuples(word, SEPARATOR), max_size=300).map(
        lambda pairs: "".join(word + gap for word, gap in pairs)
    )


TEXT = prose(LETTERS + "`")  # stray backticks too
CODE = st.text(alphabet=st.sampled_from("abc xyz\n.;"), min_size=1, max_size=70).map(
    lambda body: f"```\n{body}\n```"
)


def assert_reassembles(text: str, limit: int = MAX_PART_LENGTH) -> list[Piece]:
    """Each part fits; its body follows the previous one in ``text``, only whitespace between;
    the markers a part closes are the ones the next part reopens."""
    pieces = split_pieces(text, limit)
    assert [piece.text for piece in pieces] == split_text(text, limit)
    rest = text.strip()
    for index, piece in enumerate(pieces):
        assert text_length(piece.text) <= limit
        assert piece.body
        assert piece.body == piece.body.strip()
        assert rest.startswith(piece.body)
        rest = rest[len(piece.body) :].lstrip()
        following = pieces[index + 1].reopen if index + 1 < len(pieces) else ""
        assert following == piece.close[::-1]  # "*_\n```" closes what "```\n_*" reopens
    assert rest == ""
    assert not pieces or pieces[0].reopen == ""
    return pieces


@settings(max_examples=300, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=2, max_value=200))
def test_every_part_fits_and_the_parts_give_back_the_text(text: str, limit: int) -> None:
    assert_reassembles(text, limit)


@settings(max_examples=30, deadline=None)
@given(text=st.lists(TEXT, min_size=1, max_size=12).map("\n\n".join))
def test_at_twilios_limit_too(text: str) -> None:
    parts = [piece.text for piece in assert_reassembles(text)]
    assert all(len(part) <= MAX_PART_LENGTH for part in parts)


@settings(max_examples=200, deadline=None)
@given(blocks=st.lists(st.one_of(prose(LETTERS), CODE), min_size=1, max_size=8))
def test_a_code_block_that_fits_in_a_part_is_never_cut(blocks: list[str]) -> None:
    text = "\n\n".join(blocks)
    bodies = [piece.body for piece in assert_reassembles(text, 80)]
    for block in blocks:
        if block.startswith("```") and text_length(block) <= 80:
            assert any(block in body for body in bodies), block


def test_short_text_is_one_part() -> None:
    assert split_text("  just this  ") == ["just this"]
    assert split_text(" \n ") == []


def test_paragraphs_before_sentences_before_words() -> None:
    text = "One. Two three.\n\nFour five six."
    assert split_text(text, 20) == ["One. Two three.", "Four five six."]
    assert split_text("One. Two three four.", 12) == ["One.", "Two three", "four."]
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]


def test_emoji_count_twice_as_twilio_counts_them() -> None:
    assert text_length("😀a") == 3
    assert split_text("😀😀😀", 4) == ["😀😀", "😀"]


# What a cut must not break: a character as the user sees it, and a formatting span.

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 11 code units
CLUSTERS = [
    FAMILY,
    "\U0001f44d\U0001f3fd",  # a thumb with a skin tone
    "\U0001f1ea\U0001f1f8",  # a flag: two regional indicators
    "e\u0301",  # e and a combining acute accent
    "\u0915\u094d\u0937",  # a Devanagari conjunct
    "a",
]


def clusters(text: str) -> list[str]:
    """Extended grapheme clusters (UAX #29) of ``text``, whitespace left out."""
    return [cluster for cluster in regex.findall(r"\X", text) if not cluster.isspace()]


def test_an_emoji_sequence_a_flag_or_an_accent_is_never_cut() -> None:
    assert split_text("ab" + FAMILY, 12) == ["ab", FAMILY]
    assert split_text("a" * 1595 + FAMILY) == ["a" * 1595, FAMILY]
    assert split_text("\U0001f1ea\U0001f1f8\U0001f1eb\U0001f1f7", 6) == [
        "\U0001f1ea\U0001f1f8",
        "\U0001f1eb\U0001f1f7",
    ]
    assert split_text("e\u0301" * 3, 3) == ["e\u0301"] * 3


def test_a_cluster_longer_than_a_part_is_cut_between_code_points() -> None:
    parts = split_text(FAMILY, 4)
    assert "".join(parts) == FAMILY
    assert all(text_length(part) <= 4 for part in parts)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.tuples(st.lists(st.sampled_from(CLUSTERS), min_size=1, max_size=12), SEPARATOR),
        max_size=120,
    ),
    limit=st.integers(min_value=11, max_value=200),
)
def test_no_part_ends_or_starts_inside_a_grapheme_cluster(
    words: list[tuple[list[str], str]], limit: int
) -> None:
    text = "".join("".join(word) + gap for word, gap in words)
    parts = split_text(text, limit)
    assert all(text_length(part) <= limit for part in parts)
    assert [cluster for part in parts for cluster in clusters(part)] == clusters(text)


def test_a_span_cut_in_two_is_closed_and_reopened() -> None:
    assert split_text("*one two three four*", 12) == ["*one two*", "*three four*"]
    assert split_text("say _*one two three*_ now", 16) == ["say _*one two*_", "_*three*_ now"]
    assert split_text("~struck out words~ here", 12) == ["~struck out~", "~words~ here"]
    code = "```\nline one\nline two\nline three\n```"
    assert split_text(code, 26) == ["```\nline one\nline two\n```", "```\nline three\n```"]


MARKERS = "*_~"


@functools.cache
def styled(inside: str = "") -> st.SearchStrategy[str]:
    """Words, some runs of them in ``*``, ``_`` or ``~`` spans (nested, never the same twice)."""
    word = st.sampled_from(["a", "bc", "def", "ghij", "klmnopqr", "s\U0001f600t", "\U0001f600"])
    gap = st.sampled_from([" ", "  ", "\n", ", ", ". ", "! "])
    spans = [
        styled(inside + marker).map(lambda text, marker=marker: marker + text + marker)
        for marker in MARKERS
        if marker not in inside and len(inside) < 2
    ]
    return st.lists(st.tuples(st.one_of(word, word, *spans), gap), min_size=1, max_size=8).map(
        lambda pairs: "".join(text + gap for text, gap in pairs).rstrip(" \n,.!")
    )


def styles_of_words(text: str) -> list[tuple[str, frozenset[str]]]:
    """Each word with the spans it is in, read as WhatsApp does within one message."""
    active: list[str] = []
    words = []
    for chunk in text.split():
        found = re.fullmatch(r"([*_~]*)(.*?)([*_~.,!]*)", chunk)
        assert found is not None
        opening, word, closing = found.group(1), found.group(2), re.sub("[.,!]", "", found[3])
        active += opening
        words.append((word, frozenset(active)))
        for marker in closing:
            assert active, (marker, text)
            assert active[-1] == marker, (marker, text)
            active.pop()
    assert not active, text
    return words


@settings(max_examples=150, deadline=None)
@given(
    paragraphs=st.lists(styled(), min_size=1, max_size=6),
    limit=st.integers(min_value=30, max_value=200),
)
def test_every_word_keeps_its_formatting_in_whichever_part_it_lands(
    paragraphs: list[str], limit: int
) -> None:
    text = "\n\n".join(paragraphs)
    parts = split_text(text, limit)
    assert all(text_length(part) <= limit for part in parts)
    assert [word for part in parts for word in styles_of_words(part)] == styles_of_words(text)
