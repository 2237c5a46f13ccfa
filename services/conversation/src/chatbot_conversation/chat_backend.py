"""The portable backend: Chat Completions against any OpenAI-compatible server.

The history lives in the user's state, is sent with every turn after our instructions and is
trimmed to ``CHAT_HISTORY_TOKENS``; photos are sent as ``image_url`` parts but kept in the
history as words only (docs/conversation.md, *Backends*).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Literal

from openai import AsyncOpenAI, Omit, omit
from openai.types.chat import (
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
    ChatCompletionToolUnionParam,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .handoff import tool as handoff_tool
from .handoff.tool import asked_for_a_person
from .history import trim_history, turn_tokens
from .inputs import Prompt
from .llm import ModelContext, ModelReply, ModelRequests, Said, Usage
from .state import ChatTurn, StoredCall
from .tools import ToolCall, ToolRunner, TurnRef
from .tools.rounds import ToolRounds

__all__ = ["ChatBackend"]


class _Function(BaseModel):
    name: str = ""
    arguments: str = ""

    @field_validator("arguments", mode="before")
    @classmethod
    def _as_json_text(cls, value: object) -> object:
        """Some compatible servers send the arguments as an object, not as JSON text."""
        return json.dumps(value) if isinstance(value, dict) else value


class _Call(BaseModel):
    id: str = Field(default_factory=lambda: "call_" + uuid.uuid4().hex)
    function: _Function


class _Message(BaseModel):
    content: str | None = None
    tool_calls: list[_Call] | None = None


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

    @property
    def calls(self) -> list[ToolCall]:
        """The function calls the model asks for."""
        message = self.choices[0].message if self.choices else _Message()
        return [
            ToolCall(call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
        ]

    def summary(self) -> Usage:
        usage = self.usage or _Usage()
        return Usage(self.id, self.model, usage.prompt_tokens, usage.completion_tokens)


def _round(text: str, calls: Sequence[ToolCall], outputs: Sequence[str]) -> list[ChatTurn]:
    """A round of function calls as kept in the history: the model's message, the outputs."""
    stored = tuple(StoredCall(id=c.call_id, name=c.name, arguments=c.arguments) for c in calls)
    return [
        ChatTurn(role="assistant", content=text, tool_calls=stored),
        *(
            ChatTurn(role="tool", content=output, tool_call_id=call.call_id)
            for call, output in zip(calls, outputs, strict=True)
        ),
    ]


def _param(turn: ChatTurn) -> ChatCompletionMessageParam:
    if turn.role == "user":
        return {"role": "user", "content": turn.content}
    if turn.role == "tool":
        return {"role": "tool", "tool_call_id": turn.tool_call_id or "", "content": turn.content}
    if not turn.tool_calls:
        return {"role": "assistant", "content": turn.content}
    return {
        "role": "assistant",
        "content": turn.content or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in turn.tool_calls
        ],
    }


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
        tools: ToolRunner | None = None,
        handoff: bool = False,
    ) -> None:
        """``handoff``: offer the model ``handoff_to_human`` (a desk is set; needs ``tools``)."""
        self._client = client
        self._cap_field = max_tokens_parameter
        self._requests = requests
        self._instructions = instructions
        self._budget = history_tokens
        self._runner = tools
        params = [function.chat_param() for function in tools.tools.functions] if tools else []
        params += [handoff_tool.chat_param()] if handoff else []
        self._tools: list[ChatCompletionToolUnionParam] = params  # type: ignore[assignment]

    async def reply(
        self, *, turn: TurnRef, prompts: Sequence[Prompt], context: ModelContext
    ) -> ModelReply:
        """Answer ``prompts`` after as much of the history as the budget allows, running the
        function calls the model asks for on the way.

        The history lives in our state, not on the server: there is no conversation to remember.
        """
        asked = tuple(ChatTurn(role="user", content=prompt.as_text()) for prompt in prompts)
        room = self._budget - sum(turn_tokens(message) for message in asked)
        sent = trim_history(context.history, room)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": self._instructions},
            *(_param(message) for message in sent),
            *(_asked(prompt) for prompt in prompts),
        ]
        rounds = ToolRounds(self._runner, turn)
        completion, usage = await self._complete(messages, rounds)
        steps: list[ChatTurn] = []
        # A message asking for calls when the turn may make no more model calls is not kept.
        while calls := completion.calls:
            if (handoff := asked_for_a_person(calls)) is not None:
                asked_for, outputs = handoff
                steps += _round(completion.text, calls, outputs)
                rounds.finish()
                kept = trim_history((*sent, *asked, *steps), self._budget)
                return ModelReply(
                    text="", conversation_id=None, history=kept, usage=usage, handoff=asked_for
                )
            if rounds.spent:
                break
            outputs = await rounds.run(calls)
            new = _round(completion.text, calls, outputs)
            steps += new
            messages += [_param(message) for message in new]
            completion, more = await self._complete(messages, rounds)
            usage = usage.plus(more)
        rounds.finish()
        text = completion.text
        answer = ChatTurn(role="assistant", content=text)
        kept = trim_history((*sent, *asked, *steps, answer), self._budget)
        if steps and not kept:  # the tool steps alone fill the budget: keep the exchange
            kept = trim_history((*sent, *asked, answer), self._budget)
        return ModelReply(text=text, conversation_id=None, history=kept, usage=usage)

    async def record(
        self, *, user_key: str, said: Sequence[Said], context: ModelContext
    ) -> tuple[str | None, tuple[ChatTurn, ...]]:
        """The history with ``said`` added, trimmed to the budget."""
        added = tuple(ChatTurn(role=line.role, content=line.text) for line in said)
        return context.conversation_id, trim_history((*context.history, *added), self._budget)

    async def forget(self, conversation_id: str | None) -> str:
        """Nothing to delete: the history is in the user's state."""
        return "none"

    async def recent(
        self, *, conversation_id: str | None, history: tuple[ChatTurn, ...], limit: int
    ) -> list[Said]:
        """The last messages of the stored history (function calls and outputs left out)."""
        said = [
            Said(turn.role, turn.content)
            for turn in history
            if turn.role != "tool" and turn.content.strip()
        ]
        return said[-limit:]

    async def _complete(
        self, messages: list[ChatCompletionMessageParam], rounds: ToolRounds
    ) -> tuple[_Completion, Usage]:
        requests = self._requests
        cap = requests.max_tokens if requests.max_tokens is not None else omit
        tools = self._tools or omit
        choice: Literal["auto", "none"] | Omit = omit
        if self._tools:
            choice = "auto" if rounds.offered else "none"
        rounds.called()

        async def complete() -> _Completion:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=requests.model,
                messages=messages,
                temperature=requests.temperature if requests.temperature is not None else omit,
                max_completion_tokens=cap if self._cap_field == "max_completion_tokens" else omit,
                max_tokens=cap if self._cap_field == "max_tokens" else omit,
                tools=tools,
                tool_choice=choice,
            )
            return _Completion.model_validate_json(raw.content)

        return await requests.call(complete, _Completion.summary, conversation_id=None)
