"""Spans of a turn and of its model requests, following OpenTelemetry's GenAI conventions.

A turn continues the trace of a message it answers and links the others'. Spans carry keys,
sequences, models, tokens and error kinds: never text, instructions, numbers or tracebacks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from chatbot_common.tracing import context_from_headers

from .mailbox import Entry

__all__ = ["TRACER_NAME", "fail", "model_span", "turn_span"]

TRACER_NAME = "chatbot_conversation"


def fail(span: Span, kind: str) -> None:
    """Mark ``span`` failed with a fixed error word (``error.type``)."""
    span.set_attribute(error_attributes.ERROR_TYPE, kind)
    span.set_status(Status(StatusCode.ERROR))


@contextmanager
def turn_span(
    tracer: Tracer, *, key: str, segment: Sequence[Entry], delivered_seq: int
) -> Iterator[Span]:
    """The span of one turn, linked to the traces of every message it answers but its parent's.

    Its parent is the span of the delivery being handled (the consumer loop's) when the turn
    answers that message, else the trace of the first message it answers.
    """
    delivered = next((item for item in segment if item.seq == delivered_seq), None)
    parent = None if delivered is not None else context_from_headers(segment[0].headers)
    links = []
    for item in segment:
        if item is (delivered or segment[0]):
            continue
        context = trace.get_current_span(context_from_headers(item.headers)).get_span_context()
        if context.is_valid:
            links.append(Link(context))
    with tracer.start_as_current_span(
        "conversation turn",
        context=parent,
        links=links,
        attributes={
            "chatbot.user_key": key,
            "chatbot.turn.messages": len(segment),
            "chatbot.turn.seq_first": segment[0].seq,
            "chatbot.turn.seq_last": segment[-1].seq,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            fail(span, type(exc).__name__)
            raise


@contextmanager
def model_span(
    tracer: Tracer,
    *,
    operation: str = "chat",
    model: str,
    server: tuple[str, int | None],
    conversation_id: str | None,
    temperature: float | None,
    max_tokens: int | None,
) -> Iterator[Span]:
    """The span of one model request (all its attempts: retries are events on it).

    ``operation`` is ``chat`` for answers and ``transcription`` for voice notes (a name the
    GenAI conventions do not define yet).
    """
    host, port = server
    attributes: dict[str, AttributeValue] = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: "openai",
        gen_ai.GEN_AI_REQUEST_MODEL: model,
        server_attributes.SERVER_ADDRESS: host,
    }
    if port is not None:
        attributes[server_attributes.SERVER_PORT] = port
    if conversation_id is not None:
        attributes[gen_ai.GEN_AI_CONVERSATION_ID] = conversation_id
    if temperature is not None:
        attributes[gen_ai.GEN_AI_REQUEST_TEMPERATURE] = temperature
    if max_tokens is not None:
        attributes[gen_ai.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    with tracer.start_as_current_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span
