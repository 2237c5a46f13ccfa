"""Running the model's function calls against the operator's endpoints (docs/tools.md).

A call never fails a turn: whatever happens, the model gets an output to answer from, an
``{"error": ...}`` one when the arguments break the schema or the endpoint fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Span, SpanKind, Tracer

from ..retry import Failure, ModelCallError, RetryPolicy, retry_after, with_retries
from ..telemetry import fail
from .catalog import FunctionTool, Tools
from .metrics import TOOL_CALL_SECONDS, TOOL_CALLS

__all__ = ["ToolCall", "ToolRunner", "TurnRef", "error_output"]

log = logging.getLogger(__name__)

_ERROR_EXCERPT = 500
"""Characters of a refusing endpoint's answer passed on to the model."""


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for: its id, the function, the arguments as JSON."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class TurnRef:
    """Which turn this is: the user, their number, the inbound messages it answers, and whether
    an earlier run of it may have been cut short (a crash, a lost lease)."""

    user_key: str
    phone: str = field(repr=False)
    first_seq: int
    last_seq: int
    resumed: bool = False

    def idempotency_key(self, round_number: int, index: int) -> str:
        """Stable when the turn is run again after a crash (the model's call ids are not)."""
        return f"{self.user_key}:{self.first_seq}-{self.last_seq}:{round_number}:{index}"


def error_output(message: str) -> str:
    """A function call output that tells the model what went wrong."""
    return json.dumps({"error": message})


_RETRIED = {408: "timeout", 429: "rate_limited"}
"""The 4xx answers retried like a 5xx, and the outcome they count as when the retries end."""


class _ServerError(Exception):
    def __init__(self, status: int, headers: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.kind = _RETRIED.get(status, "server_error")
        self.wait = retry_after(headers)


def _classify(error: Exception) -> Failure | None:
    if isinstance(error, _ServerError):
        return Failure(error.kind, retryable=True, retry_after=error.wait)
    if isinstance(error, TimeoutError):
        return Failure("timeout", retryable=True)
    if isinstance(error, aiohttp.ClientError):
        return Failure("connection", retryable=True)
    return None


class ToolRunner:
    """Runs function calls, each with its own validation, retries, span and metrics."""

    def __init__(
        self, tools: Tools, session: aiohttp.ClientSession, tracer: Tracer, rng: random.Random
    ) -> None:
        self.tools = tools
        self._session = session
        self._tracer = tracer
        self._rng = rng
        self._validators = {
            function.name: Draft202012Validator(function.parameters) for function in tools.functions
        }

    async def run(self, call: ToolCall, turn: TurnRef, round_number: int, index: int) -> str:
        """The output of one call, the ``index``-th of round ``round_number``."""
        started = time.monotonic()
        with self._tracer.start_as_current_span(
            f"execute_tool {call.name}",
            kind=SpanKind.INTERNAL,
            attributes={
                gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value,
                gen_ai.GEN_AI_TOOL_NAME: call.name,
                gen_ai.GEN_AI_TOOL_CALL_ID: call.call_id,
                gen_ai.GEN_AI_TOOL_TYPE: "function",
                "chatbot.tool.round": round_number,
            },
        ) as span:
            outcome = "deadline"  # what a call cancelled by the turn's deadline counts as
            try:
                outcome, output = await self._outcome(call, turn, round_number, index)
            except Exception as error:  # a call never fails its turn
                log.warning("tool call raised %s", type(error).__name__)
                outcome, output = "internal_error", error_output("the call failed in the service")
            finally:
                self._observe(span, call, turn, round_number, outcome, started)
        return output

    def _observe(
        self,
        span: Span,
        call: ToolCall,
        turn: TurnRef,
        round_number: int,
        outcome: str,
        started: float,
    ) -> None:
        labelled = call.name if self.tools.function(call.name) else "unknown"
        TOOL_CALLS.labels(labelled, outcome).inc()
        TOOL_CALL_SECONDS.labels(labelled).observe(time.monotonic() - started)
        if outcome != "ok":
            fail(span, outcome)
            log.warning(
                "tool call failed (%s)",
                outcome,
                extra={"user_key": turn.user_key, "tool": labelled, "round": round_number},
            )

    async def _outcome(
        self, call: ToolCall, turn: TurnRef, round_number: int, index: int
    ) -> tuple[str, str]:
        function = self.tools.function(call.name)
        if function is None:
            return "unknown_tool", error_output(f"there is no tool named {call.name!r}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as error:
            return "invalid_arguments", error_output(f"the arguments are not JSON: {error.msg}")
        if problem := best_match(self._validators[function.name].iter_errors(arguments)):
            where = "/".join(str(part) for part in problem.absolute_path) or "arguments"
            message = f"the arguments do not match the tool's schema at {where}: {problem.message}"
            return "invalid_arguments", error_output(message[: self.tools.max_output_chars])
        body = {"tool": call.name, "arguments": arguments, "call_id": call.call_id}
        body["user"] = turn.user_key
        if function.include_phone:
            body["phone"] = turn.phone
        headers = {**function.headers, "Idempotency-Key": turn.idempotency_key(round_number, index)}
        try:
            status, text = await with_retries(
                lambda: self._post(function, body, headers),
                RetryPolicy(
                    max_attempts=function.max_attempts,
                    initial=0.2,
                    maximum=2.0,
                    budget=function.timeout * function.max_attempts,
                ),
                rng=self._rng,
                classify_error=_classify,
            )
        except ModelCallError as error:
            kind = error.failure.kind
            return kind, error_output(f"the tool failed ({kind}) after {error.attempts} attempt(s)")
        if 300 <= status < 400:
            return "client_error", error_output(
                f"the tool redirected (HTTP {status}); not followed"
            )
        if status >= 400:
            excerpt = text[:_ERROR_EXCERPT]
            return "client_error", error_output(
                f"the tool refused the call (HTTP {status}): {excerpt}"
            )
        return "ok", self._output(text)

    async def _post(
        self, function: FunctionTool, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, str]:
        async with (
            asyncio.timeout(function.timeout),
            self._session.post(
                str(function.url), json=body, headers=headers, allow_redirects=False
            ) as answer,
        ):
            if answer.status >= 500 or answer.status in _RETRIED:
                raise _ServerError(answer.status, answer.headers)
            # Read no more than the model will be given (a few bytes a character at most).
            limit = 4 * self.tools.max_output_chars if answer.status < 300 else _ERROR_EXCERPT
            data = await answer.content.read(limit)
            return answer.status, data.decode("utf-8", errors="replace")

    def _output(self, text: str) -> str:
        """The body as the model reads it: the ``output`` field when there is one, capped."""
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and "output" in parsed:
            output = parsed["output"]
            text = output if isinstance(output, str) else json.dumps(output)
        cap = self.tools.max_output_chars
        return text if len(text) <= cap else text[: cap - 1] + "…"
