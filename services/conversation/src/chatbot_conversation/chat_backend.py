"""The portable backend: Chat Completions against any OpenAI-compatible server.

The history lives in the user's state, is sent with every turn after our instructions and is
trimmed to ``CHAT_HISTORY_TOKENS``; photos are sent as ``image_url`` parts but kept in the
history as words only (docs/conversation.md, *Backends*).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionMessageParam
from pydantic import BaseModel, ConfigDict

from .history import estimate_tokens, trim_history
from .inputs import Prompt
from .llm import ModelReply, ModelRequests, Remember, Usage
from .state import ChatTurn

__all__ = ["ChatBackend"]


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Completion(BaseModel):
    """The fields of a chat completion that a turn reads (see the responses backend's why)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    model: str
    choices: list[_Choice] = []
    usage: _Usage | None = None

    @property
    def text(self) -> str:
        return (self.choices[0].message.content or "") if self.choices else ""

    def summary(self) -> Usage:
        usage = self.usage or _Usage()
        return Usage(self.id, self.model, usage.prompt_tokens, usage.completion_tokens)


def _param(turn: ChatTurn) -> ChatCompletionMessageParam:
    if turn.role == "user":
        return {"role": "user", "content": turn.content}
    return {"role": "assistant", "content": turn.content}


def _asked(prompt: Prompt) -> ChatCompletionMessageParam:
    """A new user message: plain text, or text and image parts."""
    if not prompt.images:
        return {"role": "user", "content": prompt.text}
    parts: list[ChatCompletionContentPartParam] = []
    if prompt.text:
        parts.append({"type": "text", "text": prompt.text})
    parts.extend(
        {"type": "image_url", "image_url": {"url": image.data_url()}} for image in prompt.images
    )
    return {"role": "user", "content": parts}


class ChatBackend:
    """Turns against Chat Completions, the history kept by us."""

    def __init__(
        self,
        client: AsyncOpenAI,
        requests: ModelRequests,
        *,
        instructions: str,
        history_tokens: int,
        max_tokens_parameter: Literal["max_completion_tokens", "max_tokens"],
    ) -> None:
        self._client = client
        self._cap_field = max_tokens_parameter
        self._requests = requests
        self._instructions = instructions
        self._budget = history_tokens

    async def reply(
        self,
        *,
        user_key: str,
        prompts: Sequence[Prompt],
        conversation_id: str | None,
        history: tuple[ChatTurn, ...],
        remember: Remember,
    ) -> ModelReply:
        """Answer ``prompts`` after as much of ``history`` as the budget allows.

        The history lives in our state, not on the server: there is no conversation to remember.
        """
        asked = tuple(ChatTurn(role="user", content=prompt.as_text()) for prompt in prompts)
        room = self._budget - sum(estimate_tokens(turn.content) for turn in asked)
        sent = trim_history(history, room)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": self._instructions},
            *(_param(turn) for turn in sent),
            *(_asked(prompt) for prompt in prompts),
        ]
        requests = self._requests
        cap = requests.max_tokens if requests.max_tokens is not None else omit

        async def complete() -> _Completion:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=requests.model,
                messages=messages,
                temperature=requests.temperature if requests.temperature is not None else omit,
                max_completion_tokens=cap if self._cap_field == "max_completion_tokens" else omit,
                max_tokens=cap if self._cap_field == "max_tokens" else omit,
            )
            return _Completion.model_validate_json(raw.content)

        completion, usage = await requests.call(complete, _Completion.summary, conversation_id=None)
        text = completion.text
        kept = trim_history((*sent, *asked, ChatTurn(role="assistant", content=text)), self._budget)
        return ModelReply(text=text, conversation_id=None, history=kept, usage=usage)
