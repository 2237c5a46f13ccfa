"""Markdown, as models write it, turned into WhatsApp's own formatting.

The reply is parsed as CommonMark (markdown-it-py) and written out in WhatsApp's markup; a reply
the parser cannot take in whole is returned as written (docs/sender.md, *Formatting*).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLinkText
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

__all__ = ["to_whatsapp"]

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_MONOSPACE = "```"
_RULE = "———"
_INLINE_MARKERS = {"strong": "*", "em": "_", "s": "~"}
_WORD = re.compile(r"[^\W_]+")


def to_whatsapp(markdown: str) -> str:
    """The text of ``markdown`` with WhatsApp formatting, blocks separated by a blank line.

    If the parser dropped any of the writer's words, ``markdown`` itself, stripped.
    """
    env: dict[str, Any] = {}
    tokens = _PARSER.parse(markdown, env)
    if _too_deep(tokens) or _words(markdown) - _kept_words(tokens, env):
        return markdown.strip()
    return _blocks(SyntaxTreeNode(tokens).children, "\n\n").strip()


def _too_deep(tokens: list[Token]) -> bool:
    """Whether the parse reached markdown-it's ``maxNesting``, where it drops the rest of a block.

    Also bounds the depth of the tree, so rendering cannot exhaust Python's recursion limit.
    """
    deepest = _PARSER.options.maxNesting - 1
    return any(
        token.level >= deepest or any(child.level >= deepest for child in token.children or ())
        for token in tokens
    )


def _kept_words(tokens: list[Token], env: dict[str, Any]) -> Counter[str]:
    """The words the parse holds and the rendering shows: text, code, fence info strings, list
    numbers, and the link reference definitions (kept aside, in ``env``) that a link uses.

    A word of the source missing from them is lost: a table cell past the header's width, say.
    """
    kept: Counter[str] = Counter()
    used = set()
    for token in tokens:
        if token.type in ("inline", "fence", "code_block"):
            kept += _words(token.content)
        kept += _words(token.info)
        used |= {child.attrs.get("href", child.attrs.get("src")) for child in token.children or ()}
    definitions = [*env.get("references", {}).items()]
    definitions += [(ref["label"], ref) for ref in env.get("duplicate_refs", [])]
    for label, definition in definitions:
        if definition["href"] in used:
            url = normalizeLinkText(definition["href"])
            kept += _words(f"{label} {url} {definition.get('title', '')}")
    return kept


def _words(text: str) -> Counter[str]:
    return Counter(word.casefold() for word in _WORD.findall(html.unescape(text)))


def _blocks(nodes: list[SyntaxTreeNode], separator: str) -> str:
    rendered = (_block(node) for node in nodes)
    return separator.join(text for text in rendered if text)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node)
    if kind == "heading":
        title = _inline_of(node, bold=False)
        return f"*{title}*" if title else ""
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind in ("fence", "code_block"):
        return f"{_MONOSPACE}\n{node.content.rstrip(chr(10))}\n{_MONOSPACE}"
    if kind == "blockquote":
        quoted = _blocks(node.children, "\n\n")
        return "\n".join(f"> {line}".rstrip() for line in quoted.split("\n"))
    if kind == "hr":
        return _RULE
    if kind == "table":
        return _table(node)
    return _blocks(node.children, "\n\n") if node.children else node.content


def _list(node: SyntaxTreeNode) -> str:
    number = int(str(node.attrs.get("start", 1)))
    items = []
    for offset, item in enumerate(node.children):
        marker = f"{number + offset}. " if node.type == "ordered_list" else "- "
        lines = _blocks(item.children, "\n").split("\n")
        indent = " " * len(marker)
        rest = [f"{indent}{line}" if line else line for line in lines[1:]]
        items.append("\n".join([marker + lines[0], *rest]).rstrip())
    return "\n".join(items)


def _table(node: SyntaxTreeNode) -> str:
    rows = []
    for section in node.children:
        for row in section.children:
            cells = [_inline_of(cell, bold=section.type != "thead") for cell in row.children]
            if section.type == "thead":
                cells = [f"*{cell}*" if cell else cell for cell in cells]
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _inline_of(node: SyntaxTreeNode, *, bold: bool = True) -> str:
    """The inline content of a block (its single ``inline`` child), rendered."""
    return "".join(_inlines(inline.children, bold) for inline in node.children)


def _inlines(nodes: list[SyntaxTreeNode], bold: bool) -> str:
    """Inline nodes rendered in order; emphasis is marked only where WhatsApp can show it."""
    texts = [_inline(node, bold) for node in nodes]
    out = ""
    for index, (node, text) in enumerate(zip(nodes, texts, strict=True)):
        marker = _INLINE_MARKERS.get(node.type)
        if marker and text.strip() and (bold or node.type != "strong"):
            following = texts[index + 1][:1] if index + 1 < len(texts) else ""
            if out[-1:].isalnum() or following.isalnum():
                # WhatsApp formats whole words only: inside a word, keep the writer's characters.
                marker = node.markup
            text = f"{marker}{text}{marker}"
        out += text
    return out


def _inline(node: SyntaxTreeNode, bold: bool) -> str:
    """One inline node without its own emphasis marker (the caller adds it)."""
    kind = node.type
    if kind == "text":
        return node.content
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "code_inline":
        return f"{_MONOSPACE}{node.content}{_MONOSPACE}"
    inner = _inlines(node.children, bold)
    if kind == "link":
        return _link(inner, str(node.attrs.get("href", "")))
    if kind == "image":
        return _link(inner, str(node.attrs.get("src", "")))
    return inner or node.content


def _link(text: str, url: str) -> str:
    """A link as WhatsApp users see it: its text, then the URL (which WhatsApp makes tappable)."""
    shown = url.removeprefix("mailto:")
    if not url or not text or text == shown:
        return text or shown
    return f"{text} ({url})"
