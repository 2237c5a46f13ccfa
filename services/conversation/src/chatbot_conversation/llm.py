"""The Responses + Conversations backend: one OpenAI Conversation per user.

Each turn sends our instructions (from configuration, every call), the user's text and the
conversation id; OpenAI keeps the history. ``safety_identifier`` is the user key, never a
phone number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from openai import AsyncOpenAI
from prometheus_client import Counter, Histogram

from .config import ConversationSettings

__all__ = ["LLM_SECONDS", "Reply", "ResponsesBackend"]

LLM_SECONDS = Histogram(
    "chatbot_llm_request_seconds",
    "Time of one model request, by model and outcome.",
    ["model", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
TOKENS = Counter(
    "chatbot_llm_tokens_total",
    "Tokens used by model requests, by model and kind (input, output).",
    ["model", "kind"],
)


@dataclass(frozen=True)
class Reply:
    """The model's answer to one turn."""

    conversation_id: str
    text: str


class ResponsesBackend:
    """Turns against OpenAI's Responses API with server-side Conversations."""

    def __init__(self, client: AsyncOpenAI, settings: ConversationSettings) -> None:
        self._client = client
        self._model = settings.openai_model
        self._instructions = settings.openai_instructions

    async def reply(self, *, user_key: str, conversation_id: str | None, text: str) -> Reply:
        """Answer ``text`` in the user's conversation, creating it on the first turn."""
        if conversation_id is None:
            conversation = await self._client.conversations.create(metadata={"user": user_key})
            conversation_id = conversation.id
        started = time.perf_counter()
        outcome = "error"
        try:
            response = await self._client.responses.create(
                model=self._model,
                instructions=self._instructions,
                input=text,
                conversation=conversation_id,
                safety_identifier=user_key,
            )
            outcome = "ok"
        finally:
            LLM_SECONDS.labels(self._model, outcome).observe(time.perf_counter() - started)
        if response.usage is not None:
            TOKENS.labels(self._model, "input").inc(response.usage.input_tokens)
            TOKENS.labels(self._model, "output").inc(response.usage.output_tokens)
        return Reply(conversation_id=conversation_id, text=response.output_text)
