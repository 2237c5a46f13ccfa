"""Splitting long replies: every part fits, nothing is lost or reordered, cuts fall naturally."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot_sender.splitting import MAX_PART_LENGTH, split_text, text_length

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


def assert_reassembles(text: str, parts: list[str]) -> None:
    """Each part follows the previous one in ``text``, only whitespace between them."""
    rest = text.strip()
    for part in parts:
        assert part
        assert part == part.strip()
        assert rest.startswith(part)
        rest = rest[len(part) :].lstrip()
    assert rest == ""


@settings(max_examples=300, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=2, max_value=200))
def test_every_part_fits_and_the_parts_give_back_the_text(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(text_length(part) <= limit for part in parts)
    assert_reassembles(text, parts)


@settings(max_examples=30, deadline=None)
@given(text=st.lists(TEXT, min_size=1, max_size=12).map("\n\n".join))
def test_at_twilios_limit_too(text: str) -> None:
    parts = split_text(text)
    assert all(len(part) <= MAX_PART_LENGTH for part in parts)
    assert all(text_length(part) <= MAX_PART_LENGTH for part in parts)
    assert_reassembles(text, parts)


@settings(max_examples=200, deadline=None)
@given(blocks=st.lists(st.one_of(prose(LETTERS), CODE), min_size=1, max_size=8))
def test_a_code_block_that_fits_in_a_part_is_never_cut(blocks: list[str]) -> None:
    text = "\n\n".join(blocks)
    parts = split_text(text, 80)
    assert_reassembles(text, parts)
    for block in blocks:
        if block.startswith("```") and text_length(block) <= 80:
            assert any(block in part for part in parts), block


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
