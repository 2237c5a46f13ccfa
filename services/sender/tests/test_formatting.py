"""Markdown as models write it, and what WhatsApp users must see instead (a table of cases)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot_common.contracts import OutboundMessage
from chatbot_sender.formatting import to_whatsapp
from chatbot_sender.parts import plan_parts

CASES = [
    ("plain text stays as it is", "plain text stays as it is"),
    ("**bold**", "*bold*"),
    ("__bold__", "*bold*"),
    ("*italic* and _italic_", "_italic_ and _italic_"),
    ("***both***", "_*both*_"),
    ("**bold with _italic_ inside**", "*bold with _italic_ inside*"),
    ("~~struck~~", "~struck~"),
    ("`code`", "```code```"),
    ("```python\nprint('hi')\n```", "```\nprint('hi')\n```"),
    ("    indented code", "```\nindented code\n```"),
    ("# Title", "*Title*"),
    ("## **Already bold** title", "*Already bold title*"),
    ("- one\n- two", "- one\n- two"),
    ("* one\n* two", "- one\n- two"),
    ("1. one\n2. two", "1. one\n2. two"),
    ("3. three\n4. four", "3. three\n4. four"),
    ("- outer\n  - inner", "- outer\n  - inner"),
    ("[the docs](https://example.com/docs)", "the docs (https://example.com/docs)"),
    ("<https://example.com>", "https://example.com"),
    ("[https://example.com](https://example.com)", "https://example.com"),
    ("<ana@example.com>", "ana@example.com"),
    ("![a chart](https://example.com/c.png)", "a chart (https://example.com/c.png)"),
    ("> quoted\n> twice", "> quoted\n> twice"),
    ("a\n\n---\n\nb", "a\n\n———\n\nb"),
    ("| k | v |\n|---|---|\n| a | 1 |", "*k* | *v*\na | 1"),
    ("first line\nsecond line", "first line\nsecond line"),
    ("para one\n\n\n\npara two", "para one\n\npara two"),
    ("snake_case_name stays", "snake_case_name stays"),
    ("2*3*4 is arithmetic", "2*3*4 is arithmetic"),
    ("**bold**suffix", "**bold**suffix"),
    ("fish &amp; chips", "fish & chips"),
    ("<b>html</b> is text", "<b>html</b> is text"),
]


@pytest.mark.parametrize(("markdown", "whatsapp"), CASES)
def test_markdown_becomes_whatsapp_formatting(markdown: str, whatsapp: str) -> None:
    assert to_whatsapp(markdown) == whatsapp


# Nothing the writer wrote may be lost: what the formatter cannot render whole goes out as written.

DEEP_LIST = "".join(f"{'  ' * depth}- level{depth}\n" for depth in range(12)) + "\nthe closing line"
DEEP_QUOTE = "> " * 25 + "a deep quote\n\nthe end"
WIDE_ROW = "| a | b |\n|---|---|\n| c | d | extra cell |"
UNUSED_REFERENCE = "Sources:\n\n[1]: https://example.com/one"
DEEP_EMPHASIS = "*" * 3000 + "word" + "*" * 3000


@pytest.mark.parametrize("markdown", [DEEP_LIST, DEEP_QUOTE, WIDE_ROW, UNUSED_REFERENCE])
def test_what_the_parser_would_drop_is_sent_as_written(markdown: str) -> None:
    assert to_whatsapp(markdown) == markdown.strip()


def test_emphasis_nested_too_deep_to_render_is_sent_as_written() -> None:
    assert to_whatsapp(DEEP_EMPHASIS) == DEEP_EMPHASIS


KEPT = [
    ("- a\n  - b\n    - c\n      - d\n        - e", "- a\n  - b\n    - c\n      - d\n        - e"),
    ("> > > deep enough", "> > > deep enough"),
    ("[the docs][1]\n\n[1]: https://example.com/docs", "the docs (https://example.com/docs)"),
    ('[a](https://example.com "a title")', "a (https://example.com)"),
    ("1. one\n1. two", "1. one\n2. two"),
    ("```python\nx = 1\n```", "```\nx = 1\n```"),
    ("[café](https://example.com/café)", "café (https://example.com/caf%C3%A9)"),
]


@pytest.mark.parametrize(("markdown", "whatsapp"), KEPT)
def test_what_formatting_drops_on_purpose_does_not_count_as_lost(
    markdown: str, whatsapp: str
) -> None:
    assert to_whatsapp(markdown) == whatsapp


def words(text: str) -> list[str]:
    """The words a reader would look for: runs of letters (numbers are list markers here)."""
    return [word.casefold() for word in re.findall(r"[^\W\d_]+", text)]


WORD = st.text(alphabet="abcxyzéñж", min_size=1, max_size=8)
PATH = st.text(alphabet="abcxyz", min_size=1, max_size=8)  # URLs are shown percent-encoded
LOOSE = st.sampled_from(["*", "**", "_", "~", "~~", "`", "[", "]", "(", ")", "#", ">", "|", "\\"])
ATOM = st.one_of(
    WORD,
    WORD,
    WORD.map(lambda w: f"**{w}**"),
    WORD.map(lambda w: f"*{w}*"),
    WORD.map(lambda w: f"_{w}_"),
    WORD.map(lambda w: f"~~{w}~~"),
    WORD.map(lambda w: f"`{w}`"),
    st.tuples(WORD, PATH).map(lambda link: "[{}](https://x.io/{})".format(*link)),
    st.tuples(WORD, PATH).map(lambda link: "![{}](https://x.io/{}.png)".format(*link)),
    PATH.map(lambda path: f"<https://x.io/{path}>"),
    LOOSE,
)
CONTAINER = st.sampled_from(["> ", "- ", "* ", "+ ", "1. ", "2) ", "  ", "# ", "## "])
NESTING = st.one_of(  # mixed containers, or one repeated: past markdown-it's depth limit at times
    st.lists(CONTAINER, max_size=30).map("".join),
    st.tuples(CONTAINER, st.integers(0, 25)).map(lambda nest: nest[0] * nest[1]),
)
LINE = st.tuples(NESTING, st.lists(ATOM, max_size=10)).map(lambda line: line[0] + " ".join(line[1]))
CELLS = st.lists(WORD, min_size=1, max_size=4).map(lambda cells: "| " + " | ".join(cells) + " |")
TABLE = st.tuples(CELLS, st.lists(CELLS, max_size=4)).map(
    lambda table: "\n".join([table[0], "|" + "---|" * table[0].count(" | ") + "---|", *table[1]])
)
FENCE = st.lists(WORD, min_size=1, max_size=6).map(lambda code: "```\n" + " ".join(code) + "\n```")
BLOCK = st.one_of(st.lists(LINE, min_size=1, max_size=8).map("\n".join), TABLE, FENCE)
ANSWER = st.lists(BLOCK, min_size=1, max_size=12).map("\n\n".join)


@settings(max_examples=300, deadline=None)
@given(answer=ANSWER.filter(lambda text: bool(text.strip())))
def test_every_word_of_the_answer_reaches_the_user(answer: str) -> None:
    message = OutboundMessage(kind="text", to="whatsapp:+1555", body=answer, idempotency_key="k")
    parts = plan_parts(message, media=True)
    sent = iter(words("\n".join(part.body or "" for part in parts)))
    assert all(word in sent for word in words(answer))  # each in turn, in order
