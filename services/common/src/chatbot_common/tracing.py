"""OpenTelemetry set-up and the trace context carried in NATS headers.

The exporter is configured only by the standard ``OTEL_*`` variables and is off when no OTLP
endpoint is set; spans are still made, so trace ids reach the logs and the NATS headers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["configure_tracing", "context_from_headers"]

_OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_tracing(service: str) -> None:
    """Install the process's tracer provider once (later calls keep the first one)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    if any(os.environ.get(name) for name in _OTLP_ENDPOINT_VARIABLES):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def context_from_headers(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context a publisher put in a NATS message's headers (W3C traceparent)."""
    return propagate.extract(dict(headers or {}))
