"""The chat backend's history: kept in KV, trimmed to a token budget.

OpenAI-compatible servers use many tokenizers (vLLM, Ollama, Azure), so the budget is counted
with an estimate, about four characters a token plus a few for each message's framing, which
is close enough for English and errs on the generous side for most other languages. Trimming
drops the oldest messages first and never leaves the history starting with an answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from .state import ChatTurn

__all__ = ["estimate_tokens", "trim_history", "turn_tokens"]

_CHARS_PER_TOKEN = 4
_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """An estimate of the tokens one message of ``text`` costs."""
    return -(-len(text) // _CHARS_PER_TOKEN) + _MESSAGE_OVERHEAD


def turn_tokens(turn: ChatTurn) -> int:
    """An estimate of the tokens one message of the history costs, its function calls too."""
    calls = "".join(call.name + call.arguments for call in turn.tool_calls)
    return estimate_tokens(turn.content + calls)


def trim_history(history: Sequence[ChatTurn], budget: int) -> tuple[ChatTurn, ...]:
    """The newest messages of ``history`` that fit in ``budget`` tokens, starting with a user's
    (so a function call's output never loses the call it answers)."""
    kept: list[ChatTurn] = []
    used = 0
    for turn in reversed(history):
        used += turn_tokens(turn)
        if used > budget:
            break
        kept.append(turn)
    while kept and kept[-1].role != "user":
        kept.pop()
    return tuple(reversed(kept))
