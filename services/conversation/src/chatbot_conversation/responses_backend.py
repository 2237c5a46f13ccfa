"""The default backend: OpenAI's Responses API with one server-side Conversation per user.

OpenAI keeps the history, we keep the conversation id; our instructions go with every call.
Requests use the SDK's generic ``post`` with bodies serialised here, which is cheaper per turn
than the typed ``responses.create`` (docs/conversation.md, *Backends*).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

import httpx2
import openai
from openai import AsyncOpenAI, RequestOptions
from openai.types.conversations import ConversationCreateParams
from openai.types.responses import (
    ResponseInputItemParam,
    ResponseInputMessageContentListParam,
    ResponseInputParam,
)
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from pydantic import BaseModel, ConfigDict

from .handoff import tool as handoff_tool
from .handoff.tool import HandoffAsk, asked_for_a_person
from .inputs import Prompt
from .llm import ModelContext, ModelReply, ModelRequests, Remember, Said, Usage
from .metrics import CONVERSATIONS_REPLACED
from .retry import ModelCallError
from .state import ChatTurn
from .tools import ToolCall, ToolRunner, TurnRef
from .tools.rounds import ToolRounds

__all__ = ["ResponsesBackend", "turn_input"]

log = logging.getLogger(__name__)


_JSON: RequestOptions = {"headers": {"Content-Type": "application/json"}}
_INTERRUPTED = json.dumps({"error": "interrupted; the turn is being answered again"})


class _Created(BaseModel):
    """The field of a new Conversation that a turn reads."""

    model_config = ConfigDict(extra="ignore")

    id: str


class _Part(BaseModel):
    type: str
    text: str = ""


class _Item(BaseModel):
    """An output item: a message, a reasoning item (whose ``content`` may be null), a function
    call, or a hosted tool's call (read for its type only)."""

    type: str
    role: str = ""
    content: list[_Part] | None = None
    call_id: str = ""
    name: str = ""
    arguments: str = ""


class _Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class _Answer(BaseModel):
    """The fields of a Response that a turn reads.

    Read from the raw response: the SDK's typed parse builds a model for every field of a
    Response, about a millisecond of CPU per turn, which caps the turns one process can run.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    model: str
    output: list[_Item] = []
    usage: _Usage | None = None

    @property
    def text(self) -> str:
        """What the SDK's ``Response.output_text`` gives: the message output texts, joined."""
        return "".join(
            part.text
            for item in self.output
            if item.type == "message"
            for part in item.content or ()
            if part.type == "output_text"
        )

    @property
    def calls(self) -> list[ToolCall]:
        """The function calls the model asks for."""
        return [
            ToolCall(item.call_id, item.name, item.arguments)
            for item in self.output
            if item.type == "function_call"
        ]

    def summary(self) -> Usage:
        usage = self.usage or _Usage()
        return Usage(self.id, self.model, usage.input_tokens, usage.output_tokens)


class _Deleted(BaseModel):
    """The answer to a deleted Conversation (read for its shape only)."""

    deleted: bool = True


class _Items(BaseModel):
    """A page of a Conversation's items, newest first (function calls and their outputs)."""

    data: list[_Item] = []


def turn_input(prompts: Sequence[Prompt]) -> str | ResponseInputParam:
    """A turn's input: the lines of text, or one user message of text and image parts."""
    if not any(prompt.images for prompt in prompts):
        return "\n".join(prompt.text for prompt in prompts)
    content: ResponseInputMessageContentListParam = []
    lines: list[str] = []
    for prompt in prompts:
        if prompt.text:
            lines.append(prompt.text)
        if prompt.images and lines:
            content.append({"type": "input_text", "text": "\n".join(lines)})
            lines = []
        content.extend(
            {"type": "input_image", "image_url": image.data_url(), "detail": "auto"}
            for image in prompt.images
        )
    if lines:
        content.append({"type": "input_text", "text": "\n".join(lines)})
    return [{"role": "user", "content": content}]


class ResponsesBackend:
    """Turns against the Responses API, the history in an OpenAI Conversation."""

    def __init__(
        self,
        client: AsyncOpenAI,
        requests: ModelRequests,
        *,
        instructions: str,
        tools: ToolRunner | None = None,
        handoff: bool = False,
    ) -> None:
        """``handoff``: offer the model ``handoff_to_human`` (a desk is set; needs ``tools``)."""
        self._client = client
        self._requests = requests
        self._instructions = instructions
        self._runner = tools
        self._tools = (
            [function.request_param() for function in tools.tools.functions]
            + [hosted.request_param() for hosted in tools.tools.hosted]
            if tools is not None
            else []
        ) + ([handoff_tool.request_param()] if handoff else [])

    async def reply(
        self, *, turn: TurnRef, prompts: Sequence[Prompt], context: ModelContext
    ) -> ModelReply:
        """Answer ``prompts`` in the user's conversation, creating it when there is none."""
        conversation_id = context.conversation_id
        if conversation_id is None:
            conversation_id = await self._new_conversation(turn.user_key, context.remember)
        try:
            text, usage, handoff = await self._answer(turn, prompts, conversation_id)
        except ModelCallError as error:
            if not isinstance(error.__cause__, openai.NotFoundError):
                raise
            # Deleted or expired on OpenAI's side: carry on in a new conversation.
            CONVERSATIONS_REPLACED.inc()
            log.warning(
                "the model API no longer knows this conversation; starting a new one, "
                "without the user's earlier context",
                extra={"user_key": turn.user_key, "conversation_id": conversation_id},
            )
            conversation_id = await self._new_conversation(turn.user_key, context.remember)
            text, usage, handoff = await self._converse(turn, turn_input(prompts), conversation_id)
        return ModelReply(
            text=text, conversation_id=conversation_id, history=(), usage=usage, handoff=handoff
        )

    async def record(
        self, *, user_key: str, said: Sequence[Said], context: ModelContext
    ) -> tuple[str | None, tuple[ChatTurn, ...]]:
        """Add ``said`` to the user's Conversation as messages (created when there is none)."""
        conversation_id = context.conversation_id
        if conversation_id is None:
            conversation_id = await self._new_conversation(user_key, context.remember)
        items: ResponseInputParam = [
            {"type": "message", "role": line.role, "content": line.text} for line in said
        ]
        await self._add_items(conversation_id, items)
        return conversation_id, context.history

    async def forget(self, conversation_id: str | None) -> str:
        """Delete the user's OpenAI Conversation (its items with it)."""
        if conversation_id is None:
            return "none"
        delete = self._getter(f"/conversations/{conversation_id}", _Deleted, method="delete")
        try:
            await self._requests.setup(delete)
        except ModelCallError as error:
            if isinstance(error.__cause__, openai.NotFoundError):
                return "none"
            raise
        return "deleted"

    async def recent(
        self, *, conversation_id: str | None, history: tuple[ChatTurn, ...], limit: int
    ) -> list[Said]:
        """The last messages of the Conversation (read back from OpenAI)."""
        if conversation_id is None:
            return []
        path = f"/conversations/{conversation_id}/items?order=desc&limit={limit * 3}"
        items = (await self._requests.setup(self._getter(path, _Items))).data
        said = [
            Said("user" if item.role == "user" else "assistant", text)
            for item in reversed(items)
            if item.type == "message"
            and item.role in ("user", "assistant")
            and (text := " ".join(part.text for part in item.content or () if part.text))
        ]
        return said[-limit:]

    async def _add_items(self, conversation_id: str, items: ResponseInputParam) -> None:
        """Add ``items`` to the Conversation (the API takes 20 a request)."""
        for start in range(0, len(items), 20):
            body = {"items": items[start : start + 20]}
            add = self._poster(f"/conversations/{conversation_id}/items", body, _Items)
            await self._requests.setup(add)

    async def _answer(
        self, turn: TurnRef, prompts: Sequence[Prompt], conversation_id: str
    ) -> tuple[str, Usage, HandoffAsk | None]:
        """Converse, first answering the function calls an earlier run left open in the
        Conversation: a re-run of this turn, or a turn after one that failed between a call
        and its output, which the API then refuses to continue."""
        given = turn_input(prompts)
        if turn.resumed and self._runner is not None:
            given = [*await self._unanswered_calls(conversation_id), *_items(given)]
        try:
            return await self._converse(turn, given, conversation_id)
        except ModelCallError as error:
            if not _refused_for_open_calls(error):
                raise
        given = [*await self._unanswered_calls(conversation_id), *_items(turn_input(prompts))]
        return await self._converse(turn, given, conversation_id)

    async def _converse(
        self, turn: TurnRef, given: str | ResponseInputParam, conversation_id: str
    ) -> tuple[str, Usage, HandoffAsk | None]:
        """Ask, run the function calls the model asks for and give it their outputs, until it
        answers with a message, hands the user to a person, or the tool loop's bounds are
        reached."""
        rounds = ToolRounds(self._runner, turn)
        answer, usage = await self._respond(turn.user_key, given, conversation_id, rounds)
        # Calls left when the turn may make no more model calls stay open: the next turn
        # answers them when the API refuses it (:meth:`_answer`).
        while calls := answer.calls:
            if (handoff := asked_for_a_person(calls)) is not None:
                # The outputs close the calls without asking the model again.
                asked, outputs = handoff
                await self._add_items(conversation_id, _outputs(calls, outputs))
                rounds.finish()
                return "", usage, asked
            if rounds.spent:
                break
            outputs = await rounds.run(calls)
            results = _outputs(calls, outputs)
            answer, more = await self._respond(turn.user_key, results, conversation_id, rounds)
            usage = usage.plus(more)
        rounds.finish()
        return answer.text, usage, None

    async def _unanswered_calls(self, conversation_id: str) -> list[ResponseInputItemParam]:
        """Outputs for the function calls an interrupted run of this turn left unanswered in
        the conversation, which the API refuses to continue without."""
        read = self._getter(f"/conversations/{conversation_id}/items?order=desc&limit=100", _Items)
        items = (await self._requests.setup(read)).data
        answered = {item.call_id for item in items if item.type == "function_call_output"}
        return [
            {"type": "function_call_output", "call_id": item.call_id, "output": _INTERRUPTED}
            for item in reversed(items)
            if item.type == "function_call" and item.call_id not in answered
        ]

    async def _new_conversation(self, user_key: str, remember: Remember) -> str:
        params: ConversationCreateParams = {"metadata": {"user": user_key}}
        create = self._poster("/conversations", params, _Created)
        conversation_id = (await self._requests.setup(create)).id
        await remember(conversation_id)
        return conversation_id

    async def _respond(
        self,
        user_key: str,
        given: str | ResponseInputParam,
        conversation_id: str,
        rounds: ToolRounds,
    ) -> tuple[_Answer, Usage]:
        requests = self._requests
        params: ResponseCreateParamsNonStreaming = {
            "model": requests.model,
            "instructions": self._instructions,
            "input": given,
            "conversation": conversation_id,
            "safety_identifier": user_key,
        }
        if requests.temperature is not None:
            params["temperature"] = requests.temperature
        if requests.max_tokens is not None:
            params["max_output_tokens"] = requests.max_tokens
        if self._tools:
            params["tools"] = self._tools  # type: ignore[typeddict-item]
            params["tool_choice"] = "auto" if rounds.offered else "none"
        rounds.called()
        respond = self._poster("/responses", params, _Answer)
        return await requests.call(respond, _Answer.summary, conversation_id=conversation_id)

    def _poster[Read: BaseModel](
        self, path: str, params: Mapping[str, object], answer: type[Read]
    ) -> Callable[[], Awaitable[Read]]:
        """One request, serialised once and sent on each attempt, its answer read as ``answer``."""
        body = json.dumps(params).encode()

        async def post() -> Read:
            raw = await self._client.post(
                path, content=body, cast_to=httpx2.Response, options=_JSON
            )
            return answer.model_validate_json(raw.content)

        return post

    def _getter[Read: BaseModel](
        self, path: str, answer: type[Read], *, method: Literal["get", "delete"] = "get"
    ) -> Callable[[], Awaitable[Read]]:
        """A request without a body (a GET, or a DELETE), its answer read as ``answer``."""
        send = self._client.get if method == "get" else self._client.delete

        async def get() -> Read:
            raw = await send(path, cast_to=httpx2.Response)
            return answer.model_validate_json(raw.content)

        return get


def _refused_for_open_calls(error: ModelCallError) -> bool:
    """Whether the API refused the Conversation for holding a call without an output (a 400
    with no error code: its message is all that tells)."""
    cause = error.__cause__
    return isinstance(cause, openai.BadRequestError) and "No tool output found" in cause.message


def _outputs(calls: Sequence[ToolCall], outputs: Sequence[str]) -> ResponseInputParam:
    """The function call output items answering ``calls``."""
    return [
        {"type": "function_call_output", "call_id": call.call_id, "output": output}
        for call, output in zip(calls, outputs, strict=True)
    ]


def _items(given: str | ResponseInputParam) -> ResponseInputParam:
    """A turn's input as a list of items."""
    return [{"role": "user", "content": given}] if isinstance(given, str) else list(given)
