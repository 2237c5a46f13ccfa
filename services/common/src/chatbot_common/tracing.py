"""OpenTelemetry set-up and the trace context carried in NATS headers.

The exporter is configured only by the standard ``OTEL_*`` variables and is off when no OTLP
endpoint is set; spans are still made, so trace ids reach the logs and the NATS headers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext

__all__ = [
    "NO_FASTAPI_TELEMETRY",
    "SERVER_SPANS_ONLY",
    "IdsOnlyTracerProvider",
    "configure_tracing",
    "context_from_headers",
    "messaging_attributes",
    "spans_recorded",
]

_UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _is_probe(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in _UNTRACED_PATHS


SERVER_SPANS_ONLY: TelemetryConfig = {
    "tracing": True,
    "operation_spans": False,
    "metrics": False,
    "logs": False,
    "exclude": _is_probe,
}
"""FastAPI's native telemetry, reduced to one server span per request.

Metrics come from prometheus-client and logs from our JSON logging; per-dependency spans would
cost more than they tell. Probes and scrapes are not traced.
"""

NO_FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "operation_spans": False,
    "metrics": False,
    "logs": False,
}
"""For ingress, whose webhook handler makes its own, cheaper server span."""


class _IdsOnlyTracer(trace.Tracer):
    """Spans that are never recorded but carry trace ids, for the logs and the NATS headers.

    The SDK's tracer with an ALWAYS_OFF sampler still pays, per span, for a sampling decision,
    its tracer metrics and two generator context managers; this one only draws ids.
    """

    _ids = RandomIdGenerator()

    # Only the name and the parent context matter: the other arguments of the API (kind,
    # attributes, links, ...) are what a recorded span would keep.
    def start_span(
        self, name: str, context: context_api.Context | None = None, *_: Any, **__: Any
    ) -> Span:
        parent = trace.get_current_span(context).get_span_context()
        trace_id = parent.trace_id if parent.is_valid else self._ids.generate_trace_id()
        return NonRecordingSpan(SpanContext(trace_id, self._ids.generate_span_id(), False))

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # a plain context manager suffices
        self, name: str, context: context_api.Context | None = None, *_: Any, **__: Any
    ) -> Iterator[Span]:
        span = self.start_span(name, context)
        token = context_api.attach(trace.set_span_in_context(span))
        try:
            yield span
        finally:
            context_api.detach(token)


class IdsOnlyTracerProvider(trace.TracerProvider):
    """What a process traces with when it has nowhere to send spans: every span is a
    non-recording one with trace ids of its own (continuing its parent's trace)."""

    def get_tracer(self, instrumenting_module_name: str, *_: Any, **__: Any) -> trace.Tracer:
        return _TRACER


_TRACER = _IdsOnlyTracer()

_OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_tracing(service: str) -> None:
    """Install the process's tracer provider once (later calls keep the first one)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider | IdsOnlyTracerProvider):
        return
    if any(os.environ.get(name) for name in _OTLP_ENDPOINT_VARIABLES):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
        # The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    else:
        # Nowhere to send spans: still make trace ids (for logs and the NATS headers) but
        # record nothing, which keeps the cost of a span near zero.
        trace.set_tracer_provider(IdsOnlyTracerProvider())


def spans_recorded() -> bool:
    """Whether this process records spans: False when :func:`configure_tracing` found nowhere
    to send them.

    A span that is not recorded still costs its ids and a context switch. A hot path whose own
    span would only matter if recorded (a publish) skips it then, and the caller's trace
    context travels on unchanged.
    """
    return not isinstance(trace.get_tracer_provider(), IdsOnlyTracerProvider)


def messaging_attributes(prefix: str, operation: str, msg_id: str | None) -> dict[str, str]:
    """OpenTelemetry messaging attributes for a publish to, or a delivery from, ``prefix.*``.

    A subject's last token is a user key (or a service name), so spans carry the subject's
    prefix and template, never the user's subject.
    """
    attributes = {
        "messaging.system": "nats",
        "messaging.operation.type": operation,
        "messaging.destination.name": prefix,
        "messaging.destination.template": f"{prefix}.{{user_key}}",
    }
    if msg_id:
        attributes["messaging.message.id"] = msg_id
    return attributes


def context_from_headers(headers: Mapping[str, str] | None) -> context_api.Context:
    """The trace context a publisher put in a NATS message's headers (W3C traceparent)."""
    return propagate.extract(dict(headers or {}))
