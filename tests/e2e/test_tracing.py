"""One trace per inbound message, across the three services (spans exported over OTLP)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .conftest import StackFactory, inbound_form, post_webhook, sent_messages
from .otlp import ReceivedSpan, otlp_receiver

pytestmark = pytest.mark.e2e

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP SpanKind values


async def test_one_trace_covers_ingress_conversation_and_sender(
    start_stack: StackFactory, http: httpx.AsyncClient
) -> None:
    with otlp_receiver() as (endpoint, sink):
        environment = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        with start_stack(**environment) as stack:
            form = inbound_form("trace me")
            assert (await post_webhook(http, stack, form)).status_code == 200
            await sent_messages(http, stack, at_least=1)

            def whole_trace(spans: list[ReceivedSpan]) -> bool:
                ids = {s.trace_id for s in spans if s.service == "ingress"}
                services = {s.service for s in spans if s.trace_id in ids}
                return services >= {"ingress", "conversation", "sender"}

            spans = await asyncio.to_thread(sink.wait_for, whole_trace, 20)

    (webhook,) = [s for s in spans if s.service == "ingress" and s.kind == SERVER]
    assert webhook.name == "POST /twilio/messages"
    in_trace = [s for s in spans if s.trace_id == webhook.trace_id]
    kinds = {(s.service, s.kind) for s in in_trace}
    assert {("ingress", PRODUCER), ("conversation", CONSUMER), ("sender", CONSUMER)} <= kinds
    consumed = {s.attributes.get("messaging.message.id") for s in in_trace if s.kind == CONSUMER}
    assert form["MessageSid"] in consumed
    for span in in_trace:  # no phone number or message text in any span
        text = " ".join([span.name, *span.attributes.values()])
        assert "5550001111" not in text
        assert "trace me" not in text
