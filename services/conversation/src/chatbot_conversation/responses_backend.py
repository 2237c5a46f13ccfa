"""The default backend: OpenAI's Responses API with one server-side Conversation per user.

OpenAI keeps the history, we keep the conversation id; our instructions go with every call.
Requests use the SDK's generic ``post`` with bodies serialised here, which is cheaper per turn
than the typed ``responses.create`` (docs/conversation.md, *Backends*).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import httpx2
import openai
from openai import AsyncOpenAI, RequestOptions
from openai.types.conversations import ConversationCreateParams
from openai.types.responses import ResponseInputMessageContentListParam, ResponseInputParam
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from pydantic import BaseModel, ConfigDict

from .inputs import Prompt
from .llm import ModelReply, ModelRequests, Remember, Usage
from .metrics import CONVERSATIONS_REPLACED
from .retry import ModelCallError
from .state import ChatTurn

__all__ = ["ResponsesBackend", "turn_input"]

log = logging.getLogger(__name__)


_JSON: RequestOptions = {"headers": {"Content-Type": "application/json"}}


class _Created(BaseModel):
    """The field of a new Conversation that a turn reads."""

    model_config = ConfigDict(extra="ignore")

    id: str


class _Part(BaseModel):
    type: str
    text: str = ""


class _Item(BaseModel):
    """An output item: a message, or a reasoning item (whose ``content`` may be null)."""

    type: str
    content: list[_Part] | None = None


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

    def summary(self) -> Usage:
        usage = self.usage or _Usage()
        return Usage(self.id, self.model, usage.input_tokens, usage.output_tokens)


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

    def __init__(self, client: AsyncOpenAI, requests: ModelRequests, *, instructions: str) -> None:
        self._client = client
        self._requests = requests
        self._instructions = instructions

    async def reply(
        self,
        *,
        user_key: str,
        prompts: Sequence[Prompt],
        conversation_id: str | None,
        history: tuple[ChatTurn, ...],
        remember: Remember,
    ) -> ModelReply:
        """Answer ``prompts`` in the user's conversation, creating it when there is none."""
        given = turn_input(prompts)
        if conversation_id is None:
            conversation_id = await self._new_conversation(user_key, remember)
        try:
            answer, usage = await self._respond(user_key, given, conversation_id)
        except ModelCallError as error:
            if not isinstance(error.__cause__, openai.NotFoundError):
                raise
            # Deleted or expired on OpenAI's side: carry on in a new conversation.
            CONVERSATIONS_REPLACED.inc()
            log.warning(
                "the model API no longer knows this conversation; starting a new one, "
                "without the user's earlier context",
                extra={"user_key": user_key, "conversation_id": conversation_id},
            )
            conversation_id = await self._new_conversation(user_key, remember)
            answer, usage = await self._respond(user_key, given, conversation_id)
        return ModelReply(
            text=answer.text, conversation_id=conversation_id, history=(), usage=usage
        )

    async def _new_conversation(self, user_key: str, remember: Remember) -> str:
        params: ConversationCreateParams = {"metadata": {"user": user_key}}
        create = self._poster("/conversations", params, _Created)
        conversation_id = (await self._requests.setup(create)).id
        await remember(conversation_id)
        return conversation_id

    async def _respond(
        self, user_key: str, given: str | ResponseInputParam, conversation_id: str
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
