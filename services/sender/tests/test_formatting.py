"""Markdown as models write it, and what WhatsApp users must see instead (a table of cases)."""

from __future__ import annotations

import pytest

from chatbot_sender.formatting import to_whatsapp

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
