"""Tracing without an exporter: nothing recorded, trace ids still made and carried."""

from __future__ import annotations

from opentelemetry import trace

from chatbot_common.tracing import IdsOnlyTracerProvider, context_from_headers

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def test_unrecorded_spans_get_ids_and_continue_the_current_trace() -> None:
    tracer = IdsOnlyTracerProvider().get_tracer("test")
    with tracer.start_as_current_span("webhook") as root:
        assert trace.get_current_span() is root
        child = tracer.start_span("publish")
    assert trace.get_current_span() is trace.INVALID_SPAN
    other_root = tracer.start_span("another webhook")

    ids = root.get_span_context(), child.get_span_context(), other_root.get_span_context()
    assert all(context.is_valid for context in ids)
    assert not any(span.is_recording() for span in (root, child, other_root))
    assert ids[1].trace_id == ids[0].trace_id != ids[2].trace_id
    assert len({context.span_id for context in ids}) == 3


def test_a_span_continues_the_trace_a_message_carried() -> None:
    tracer = IdsOnlyTracerProvider().get_tracer("test")
    span = tracer.start_span("consume", context=context_from_headers({"traceparent": PARENT}))
    assert format(span.get_span_context().trace_id, "032x") == TRACE_ID
