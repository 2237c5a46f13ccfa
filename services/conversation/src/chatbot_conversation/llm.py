"""The model side of a turn: what a backend answers, and how each model request is made.

Every request of a backend, and every transcription (:mod:`.media.transcription`), goes through
:class:`ModelRequests`: our retries, metrics by model, and the GenAI span.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, Protocol

from openai import AsyncOpenAI
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Tracer

from .config import ConversationSettings
from .handoff.tool import HandoffAsk
from .inputs import Prompt
from .metrics import LLM_ERRORS, LLM_SECONDS, TOKENS
from .retry import Failure, ModelCallError, RetryPolicy, with_retries
from .state import ChatTurn
from .telemetry import fail, model_span
from .tools import TurnRef

__all__ = [
    "Backend",
    "ModelCalls",
    "ModelContext",
    "ModelReply",
    "ModelRequests",
    "Remember",
    "Said",
    "Usage",
    "counting_model_calls",
]


@dataclass(frozen=True)
class Usage:
    """What one model response says about itself."""

    response_id: str
    response_model: str
    input_tokens: int
    output_tokens: int

    def plus(self, later: Usage) -> Usage:
        """The usage of two calls of one turn: the later one's ids, the tokens of both."""
        return Usage(
            later.response_id,
            later.response_model,
            self.input_tokens + later.input_tokens,
            self.output_tokens + later.output_tokens,
        )


@dataclass(frozen=True)
class ModelReply:
    """The answer to one turn, and the conversation state the backend wants kept.

    ``handoff`` is set when the model handed the user to a person instead of answering.
    """

    text: str
    conversation_id: str | None
    history: tuple[ChatTurn, ...]
    usage: Usage
    handoff: HandoffAsk | None = None


@dataclass(frozen=True)
class Said:
    """A line of the chat the model did not take part in (a handoff's), for its context."""

    role: Literal["user", "assistant"]
    text: str


@dataclass
class ModelCalls:
    """The model requests made in one turn (every attempt, retries included)."""

    count: int = 0


_CALLS: ContextVar[ModelCalls | None] = ContextVar("chatbot_model_calls", default=None)


@contextlib.contextmanager
def counting_model_calls() -> Iterator[ModelCalls]:
    """Count the model requests made in the block (and in the tasks it starts)."""
    calls = ModelCalls()
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)


Remember = Callable[[str], Awaitable[None]]
"""Keeps the id of a conversation a backend just created, before anything is asked in it."""


@dataclass(frozen=True)
class ModelContext:
    """What the model knows of a user: their Conversation's id or the history we keep, and
    where a conversation made for them is remembered."""

    conversation_id: str | None
    history: tuple[ChatTurn, ...]
    remember: Remember


class Backend(Protocol):
    """Answers a user's messages, continuing their conversation.

    A backend that creates a conversation on the server calls ``context.remember`` with its id
    first, so that whoever answers the turn after a crash continues that conversation.
    """

    async def reply(
        self, *, turn: TurnRef, prompts: Sequence[Prompt], context: ModelContext
    ) -> ModelReply: ...

    async def record(
        self, *, user_key: str, said: Sequence[Said], context: ModelContext
    ) -> tuple[str | None, tuple[ChatTurn, ...]]:
        """Add ``said`` to the user's context; the conversation id and history to keep."""
        ...

    async def forget(self, conversation_id: str | None) -> str:
        """Delete what the model's provider keeps of the user's chat; what became of it:
        ``deleted``, or ``none`` (nothing kept there, or already gone)."""
        ...

    async def recent(
        self, *, conversation_id: str | None, history: tuple[ChatTurn, ...], limit: int
    ) -> list[Said]:
        """The last ``limit`` messages of the user's chat, oldest first."""
        ...


class ModelRequests:
    """Makes requests to the model API with our retries, metrics and spans."""

    def __init__(
        self,
        client: AsyncOpenAI,
        settings: ConversationSettings,
        tracer: Tracer,
        rng: random.Random,
    ) -> None:
        self.model = settings.openai_model
        self.temperature = settings.openai_temperature
        self.max_tokens = settings.openai_max_output_tokens
        self._server = (client.base_url.host, client.base_url.port)
        self._tracer = tracer
        self._rng = rng
        self._policy = RetryPolicy(
            max_attempts=settings.openai_max_attempts,
            initial=settings.openai_backoff_initial,
            maximum=settings.openai_backoff_max,
            budget=settings.openai_retry_budget,
        )

    async def setup[T](self, request: Callable[[], Awaitable[T]]) -> T:
        """A request that prepares a model call (creating a conversation): retried, untimed."""
        return await with_retries(request, self._policy, rng=self._rng)

    async def call[T](
        self,
        request: Callable[[], Awaitable[T]],
        describe: Callable[[T], Usage],
        *,
        conversation_id: str | None,
        model: str | None = None,
        operation: str = "chat",
    ) -> tuple[T, Usage]:
        """One model request, retried; the result and its usage.

        ``model`` names the model asked when it is not the one that answers (a transcription
        model); ``operation`` names the span's GenAI operation. Raises
        :class:`~.retry.ModelCallError` when it fails for good.
        """
        chatting = model is None
        model = model or self.model
        calls = _CALLS.get()

        async def attempt() -> T:
            if calls is not None:
                calls.count += 1
            return await request()

        def observe(outcome: str, seconds: float) -> None:
            LLM_SECONDS.labels(model, outcome).observe(seconds)
            if outcome != "ok":
                LLM_ERRORS.labels(model, outcome).inc()

        with model_span(
            self._tracer,
            operation=operation,
            model=model,
            server=self._server,
            conversation_id=conversation_id,
            temperature=self.temperature if chatting else None,
            max_tokens=self.max_tokens if chatting else None,
        ) as span:

            def on_retry(failure: Failure, attempt: int, wait: float) -> None:
                span.add_event(
                    "retry",
                    {"error.type": failure.kind, "chatbot.attempt": attempt, "chatbot.wait": wait},
                )

            try:
                result = await with_retries(
                    attempt, self._policy, rng=self._rng, observe=observe, on_retry=on_retry
                )
            except ModelCallError as error:
                fail(span, error.failure.kind)
                raise
            usage = describe(result)
            TOKENS.labels(model, "input").inc(usage.input_tokens)
            TOKENS.labels(model, "output").inc(usage.output_tokens)
            span.set_attributes(
                {
                    gen_ai.GEN_AI_RESPONSE_MODEL: usage.response_model,
                    gen_ai.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
                    gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
                }
            )
            if usage.response_id:  # transcriptions have none
                span.set_attribute(gen_ai.GEN_AI_RESPONSE_ID, usage.response_id)
            return result, usage
