"""Connecting, provisioning and publishing against a real nats-server."""

from __future__ import annotations

import time

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NoStreamResponseError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from chatbot_common.bus import MSG_ID_HEADER, NatsUnavailableError, connect, publish, redact_url
from chatbot_common.contracts import DeliveryStatus, utcnow
from chatbot_common.topology import (
    CONVERSATIONS_BUCKET,
    DLQ,
    EVENTS,
    INBOUND,
    Consumer,
    provision,
)
from chatbot_common.tracing import IdsOnlyTracerProvider
from chatbot_devstack import free_port

WINDOW = 3600.0


def _status(sid: str = "SM1") -> DeliveryStatus:
    return DeliveryStatus(message_sid=sid, account_sid="AC1", status="sent", received_at=utcnow())


async def test_connect_to_nothing_fails_fast_with_a_clear_error() -> None:
    url = f"nats://user:pw@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(NatsUnavailableError, match="cannot reach NATS") as raised:
        await connect(url, name="test", timeout=1.0)
    assert time.monotonic() - started < 10
    assert "pw" not in str(raised.value)
    assert "***@127.0.0.1" in str(raised.value)


def test_redact_url_leaves_plain_urls_alone() -> None:
    assert redact_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert redact_url("nats://a:b@host:4222") == "nats://***@host:4222"


async def test_provision_is_idempotent_and_restores_the_declared_config(nc: NATS) -> None:
    js = nc.jetstream()
    consumer = Consumer(INBOUND, "worker")
    parts = {
        "streams": (INBOUND, DLQ),
        "consumers": (consumer,),
        "buckets": (CONVERSATIONS_BUCKET,),
    }
    await provision(js, **parts, duplicate_window=WINDOW)
    await provision(js, **parts, duplicate_window=WINDOW)
    # Someone changed the stream by hand; the next start brings it back.
    drifted = INBOUND.config(duplicate_window=60.0, replicas=1)
    await js.update_stream(drifted)
    await provision(js, **parts, duplicate_window=WINDOW)

    info = await js.stream_info(INBOUND.name)
    assert info.config.duplicate_window == WINDOW
    assert info.config.subjects == ["chat.inbound.>"]
    assert info.config.allow_direct
    assert (await js.consumer_info(INBOUND.name, "worker")).config.durable_name == "worker"
    kv = await js.key_value(CONVERSATIONS_BUCKET.name)
    assert (await kv.status()).bucket == CONVERSATIONS_BUCKET.name


async def test_publish_waits_for_the_ack_and_drops_repeated_ids(nc: NATS) -> None:
    js = nc.jetstream()
    await provision(js, streams=(EVENTS,), duplicate_window=WINDOW)
    first = await publish(js, EVENTS.subject("status.k"), _status(), msg_id="SM1:sent", timeout=2)
    again = await publish(js, EVENTS.subject("status.k"), _status(), msg_id="SM1:sent", timeout=2)
    other = await publish(js, EVENTS.subject("status.k"), _status(), msg_id="SM1:read", timeout=2)

    assert (first.duplicate, again.duplicate, other.duplicate) == (None, True, None)
    assert (await js.stream_info(EVENTS.name)).state.messages == 2
    stored = await js.get_msg(EVENTS.name, seq=first.seq)
    assert stored.headers is not None
    assert stored.headers[MSG_ID_HEADER] == "SM1:sent"


async def test_publish_carries_the_current_trace_context(nc: NATS) -> None:
    js = nc.jetstream()
    await provision(js, streams=(EVENTS,), duplicate_window=WINDOW)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("webhook") as span:
        ack = await publish(js, EVENTS.subject("status.k"), _status(), msg_id="x", timeout=2)
    stored = await js.get_msg(EVENTS.name, seq=ack.seq)
    assert stored.headers is not None
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert stored.headers["traceparent"].split("-")[1] == trace_id
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_publish_without_recorded_spans_carries_the_callers_own_span(
    nc: NATS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing exported: no producer span of its own, the caller's trace context travels on."""
    provider = IdsOnlyTracerProvider()
    # What configure_tracing installs when no OTLP endpoint is set (set back after the test).
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    js = nc.jetstream()
    await provision(js, streams=(EVENTS,), duplicate_window=WINDOW)
    with provider.get_tracer("test").start_as_current_span("webhook") as span:
        ack = await publish(js, EVENTS.subject("status.k"), _status(), msg_id="x", timeout=2)
    stored = await js.get_msg(EVENTS.name, seq=ack.seq)
    assert stored.headers is not None
    context = span.get_span_context()
    _, trace_id, parent_id, _ = stored.headers["traceparent"].split("-")
    assert (trace_id, parent_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")


async def test_publish_to_a_missing_stream_raises_instead_of_pretending(nc: NATS) -> None:
    with pytest.raises(NoStreamResponseError):
        await publish(nc.jetstream(), "chat.nowhere.k", _status(), msg_id="x", timeout=1)
