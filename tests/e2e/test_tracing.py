"""One trace per inbound message, across the three services and out to Twilio.

The services export their spans over OTLP/HTTP to a receiver in the test (configured only by
the standard OTEL_* variables, as in production). One webhook must yield one trace id covering
ingress's server and producer spans, conversation's consumer and model spans, and the sender's
consumer span and its Twilio call; probes and scrapes must not be traced.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from chatbot_devstack import StackDriver, inbound_form

from .conftest import StackFactory
from .otlp import ReceivedSpan, otlp_receiver

pytestmark = pytest.mark.e2e

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP SpanKind values
SERVICES = ("ingress", "conversation", "sender")
PROBES = ("/healthz", "/readyz", "/metrics")


def message_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
    """The spans of the trace ingress's webhook span started, once every expected one is in."""
    webhooks = [s for s in spans if s.service == "ingress" and s.kind == SERVER]
    if not webhooks:
        return None
    in_trace = [s for s in spans if s.trace_id == webhooks[0].trace_id]
    kinds = {(s.service, s.kind) for s in in_trace}
    expected = {
        ("ingress", SERVER),
        ("ingress", PRODUCER),
        ("conversation", CONSUMER),
        ("conversation", CLIENT),
        ("conversation", PRODUCER),
        ("sender", CONSUMER),
    }
    # The reply's own Twilio call (a typing indicator may be sent first, in the same trace).
    replied = any(s.service == "sender" and s.name == "twilio messages.create" for s in in_trace)
    return in_trace if expected <= kinds and replied else None


async def test_one_trace_covers_ingress_conversation_sender_and_twilio(
    start_stack: StackFactory, http: httpx.AsyncClient
) -> None:
    with otlp_receiver() as (endpoint, sink):
        environment = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        async with start_stack(**environment) as stack:
            twilio = StackDriver(stack, http).twilio
            # Probes and scrapes first: were they traced, their spans would be exported before
            # the message's (each process exports its spans in the order they end).
            for service in SERVICES:
                for path in PROBES:
                    assert (await http.get(f"{stack.url(service)}{path}")).status_code == 200
            form = inbound_form("trace me")
            assert (await twilio.post(form)).status_code == 200
            await twilio.sent_messages(at_least=1)

            def whole_trace(spans: list[ReceivedSpan]) -> bool:
                return message_trace(spans) is not None

            spans = await asyncio.to_thread(sink.wait_for, whole_trace, 20)

    in_trace = message_trace(spans)
    assert in_trace is not None
    (webhook,) = [s for s in in_trace if s.service == "ingress" and s.kind == SERVER]
    assert webhook.name == "POST /twilio/messages"
    names = {(s.service, s.name) for s in in_trace}
    assert ("conversation", "process chat.inbound") in names
    assert ("conversation", "send chat.outbound") in names
    assert ("sender", "process chat.outbound") in names
    assert ("sender", "twilio messages.create") in names
    (model,) = [s for s in in_trace if s.service == "conversation" and s.kind == CLIENT]
    assert model.name.startswith("chat ")
    assert model.attributes["gen_ai.operation.name"] == "chat"
    consumed = {s.attributes.get("messaging.message.id") for s in in_trace if s.kind == CONSUMER}
    assert form["MessageSid"] in consumed
    for span in in_trace:
        if span.kind in (PRODUCER, CONSUMER):  # messaging conventions
            assert span.attributes["messaging.system"] == "nats"
            assert span.attributes["messaging.destination.name"].startswith("chat.")
    for span in in_trace:  # no phone number or message text in any span
        text = " ".join([span.name, *span.attributes.values()])
        assert "5550001111" not in text
        assert "trace me" not in text
    traced_probes = [s for s in spans if any(path in s.name for path in PROBES)]
    assert not traced_probes, [(s.service, s.name) for s in traced_probes]
