"""POST /api/messages against a real NATS: checked strictly (400, never 422), made idempotent
by the caller's key, refused for a user who opted out or outside WhatsApp's window, rate
limited apart from replies, and queued to the sender with a record for the model and an audit
event."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from prometheus_client import REGISTRY

from chatbot_common.contracts import (
    AuditEvent,
    DeskEvent,
    OutboundMessage,
    decode,
    decode_user_inbound,
    utcnow,
)
from chatbot_common.topology import AUDIT, CONVERSATIONS_BUCKET, INBOUND, OUTBOUND, Stream
from chatbot_console.outreach import OUTCOMES
from chatbot_conversation.state import ConversationState, StateStore
from chatbot_devstack import BUSINESS_NUMBER, ORDER_READY_TEMPLATE_SID, USER
from chatbot_devstack.embedded import RunningSandbox
from chatbot_sandbox.twilio.settings import TEMPLATES

from .conftest import KEY, operating

SID = "HX" + "0123456789abcdef" * 2
TEMPLATE = {"to": USER, "template": {"content_sid": SID, "variables": {"1": "Olga", "2": "3pm"}}}


async def remember(js: JetStreamContext, state: ConversationState) -> None:
    """The user's state, as the conversation service writes it."""
    await StateStore(await js.key_value(CONVERSATIONS_BUCKET.name)).save(KEY, state, revision=0)


async def stored(js: JetStreamContext, stream: Stream) -> list[RawStreamMsg]:
    info = await js.stream_info(stream.name)
    if not info.state.messages:
        return []
    return [
        await js.get_msg(stream.name, seq=seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def send(
    client: httpx.AsyncClient, body: Any, key: str | None = "campaign-42/olga"
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await client.post("/api/messages", json=body, headers=headers)


def counted() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("chatbot_outreach_requests_total", {"outcome": outcome})
        or 0.0
        for outcome in OUTCOMES
    }


def counted_since(before: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in counted().items() if v != before[k]}


@pytest.fixture
async def limited(nats_server: Any, js: JetStreamContext) -> AsyncIterator[httpx.AsyncClient]:
    """The console with a burst of two outreach messages, then one every 100 seconds."""
    async with operating(
        nats_server.url, outreach_rate_per_second=0.01, outreach_rate_burst=2
    ) as client:
        yield client


@pytest.fixture
async def reading(
    nats_server: Any, sandbox: RunningSandbox, js: JetStreamContext
) -> AsyncIterator[httpx.AsyncClient]:
    """The console with a Twilio account: it reads templates from the sandbox's Content API."""
    async with operating(
        nats_server.url,
        twilio_account_sid=sandbox.settings.twilio_account_sid,
        twilio_auth_token=sandbox.settings.twilio_auth_token,
        twilio_api_base_url=sandbox.twilio_base_url,
    ) as client:
        yield client


async def test_without_the_token_it_is_401(console: httpx.AsyncClient) -> None:
    del console.headers["Authorization"]
    assert (await send(console, TEMPLATE)).status_code == 401
    console.headers["Authorization"] = "Bearer wrong-token"
    assert (await send(console, TEMPLATE)).status_code == 401


@pytest.mark.parametrize("key", [None, "", "a key with spaces", "clé", "k" * 256])
async def test_an_idempotency_key_is_required(
    console: httpx.AsyncClient, js: JetStreamContext, key: str | None
) -> None:
    headers = {"Idempotency-Key": key.encode()} if key is not None else {}
    answer = await console.post("/api/messages", json=TEMPLATE, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"
    assert answer.json()["field"] == "Idempotency-Key"
    assert await stored(js, OUTBOUND) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template": TEMPLATE["template"]}, "to"),
        ({**TEMPLATE, "to": "+15550001111"}, "to"),
        ({**TEMPLATE, "to": 15550001111}, "to"),
        ({**TEMPLATE, "from": "whatsapp:+1555"}, "from"),
        ({**TEMPLATE, "from": "whatsapp:+14155550000"}, "from"),  # not the business's
        ({"to": USER, "template": {"content_sid": "HX123"}}, "template.content_sid"),
        ({"to": USER, "template": {"content_sid": "MG" + "0" * 32}}, "template.content_sid"),
        ({"to": USER, "template": {"variables": {"1": "x"}}}, "template.content_sid"),
        (
            {"to": USER, "template": {"content_sid": SID, "variables": {"x": "a"}}},
            "template.variables",
        ),
        (
            {"to": USER, "template": {"content_sid": SID, "variables": {"0": "a"}}},
            "template.variables",
        ),
        (
            {"to": USER, "template": {"content_sid": SID, "variables": {"100": "a"}}},
            "template.variables",
        ),
        (
            {"to": USER, "template": {"content_sid": SID, "variables": {"1": 5}}},
            "template.variables",
        ),
        ({"to": USER, "template": {"content_sid": SID, "language": "en"}}, "template.language"),
        ({"to": USER, "body": ""}, "body"),
        ({"to": USER, "body": "   "}, "body"),
        ({"to": USER, "body": "x" * 1601}, "body"),
        ({"to": USER, "body": ["hello"]}, "body"),
        ({**TEMPLATE, "body": "hello"}, "body"),  # both
        ({"to": USER}, "body"),  # neither
        ({"to": USER, "body": "hi", "media_urls": ["ftp://example.com/a.jpg"]}, "media_urls"),
        ({"to": USER, "body": "hi", "media_urls": ["https://"]}, "media_urls"),
        (
            {"to": USER, "media_urls": [f"https://example.com/{n}.jpg" for n in range(11)]},
            "media_urls",
        ),
        ({**TEMPLATE, "media_urls": ["https://example.com/a.jpg"]}, "media_urls"),
        ({**TEMPLATE, "priority": "high"}, "priority"),
    ],
)
async def test_each_bad_field_is_400_naming_it(
    console: httpx.AsyncClient, js: JetStreamContext, body: dict[str, Any], field: str
) -> None:
    before = counted()
    answer = await send(console, body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"
    assert answer.json()["field"] == field
    assert answer.json()["detail"]
    assert await stored(js, OUTBOUND) == []
    assert counted_since(before) == {"invalid": 1}


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"hello"', b""])
async def test_a_body_that_is_not_a_json_object_is_400(
    console: httpx.AsyncClient, raw: bytes
) -> None:
    answer = await console.post(
        "/api/messages",
        content=raw,
        headers={"Idempotency-Key": "k1", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid"
    assert answer.json()["field"] is None


async def test_a_template_is_queued_once_recorded_for_the_model_and_audited(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    before = counted()
    answer = await send(console, TEMPLATE, key="campaign-42/olga")
    assert answer.status_code == 202
    digest = hashlib.sha256(b"campaign-42/olga").hexdigest()
    assert answer.json() == {"id": f"{KEY}.outreach.{digest[:32]}", "status": "queued"}

    (raw,) = await stored(js, OUTBOUND)
    assert raw.subject == OUTBOUND.subject(KEY)
    assert raw.headers is not None
    assert raw.headers["Nats-Msg-Id"] == "campaign-42/olga"
    sent = decode(OutboundMessage, raw.data or b"")
    assert (sent.kind, sent.to, sent.from_, sent.outreach) == ("template", USER, None, True)
    assert (sent.content_sid, sent.content_variables) == (SID, {"1": "Olga", "2": "3pm"})
    assert sent.idempotency_key == answer.json()["id"]
    assert sent.window_opened_at is None

    (told_raw,) = await stored(js, INBOUND)
    assert told_raw.subject == INBOUND.subject(KEY)
    told = decode_user_inbound(told_raw.data or b"")
    assert isinstance(told, DeskEvent)
    assert (told.desk, told.event, told.agent) == ("operator", "outreach", "Olga")
    assert told.body == f'Template {SID} with variables {{"1": "Olga", "2": "3pm"}}'
    assert told.delivery_id == f"outreach:{digest}"
    assert told_raw.headers is not None
    assert told_raw.headers["Nats-Msg-Id"] == told.delivery_id

    (audit_raw,) = await stored(js, AUDIT)
    audit = decode(AuditEvent, audit_raw.data or b"")
    assert (audit.operator, audit.action, audit.user_key, audit.target) == (
        "Olga",
        "outreach",
        KEY,
        answer.json()["id"],
    )
    assert USER.removeprefix("whatsapp:") not in audit_raw.data.decode()
    assert counted_since(before) == {"queued": 1}


async def test_the_same_key_again_answers_the_same_and_sends_nothing_more(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    before = counted()
    first = await send(console, TEMPLATE, key="retry-me")
    reordered = {"template": TEMPLATE["template"], "to": USER}  # the same request
    again = await send(console, reordered, key="retry-me")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert len(await stored(js, OUTBOUND)) == 1
    assert len(await stored(js, INBOUND)) == 1
    assert len(await stored(js, AUDIT)) == 1
    assert counted_since(before) == {"queued": 1, "replayed": 1}


async def test_the_same_key_for_another_request_is_422(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    await remember(js, ConversationState(last_inbound_at=utcnow()))
    assert (await send(console, {"to": USER, "body": "hello"}, key="k-1")).status_code == 202
    before = counted()
    reused = await send(console, {"to": USER, "body": "goodbye"}, key="k-1")
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"
    assert len(await stored(js, OUTBOUND)) == 1
    assert counted_since(before) == {"key_reused": 1}


async def test_a_user_who_opted_out_is_409_and_nothing_is_sent(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    await remember(js, ConversationState(opted_out=True, last_inbound_at=utcnow()))
    before = counted()
    answer = await send(console, TEMPLATE)
    assert answer.status_code == 409
    assert answer.json()["error"] == "opted_out"
    assert await stored(js, OUTBOUND) == []
    assert await stored(js, INBOUND) == []
    assert counted_since(before) == {"opted_out": 1}


@pytest.mark.parametrize("last_inbound_at", [timedelta(hours=25), None])
async def test_free_form_outside_the_window_is_422_but_a_template_goes(
    console: httpx.AsyncClient, js: JetStreamContext, last_inbound_at: timedelta | None
) -> None:
    if last_inbound_at is not None:
        await remember(js, ConversationState(last_inbound_at=utcnow() - last_inbound_at))
    before = counted()
    for body in ({"to": USER, "body": "hello"}, {"to": USER, "media_urls": ["https://x.io/a.jpg"]}):
        answer = await send(console, body, key=f"free-{len(body)}-{body.get('body')}")
        assert answer.status_code == 422
        assert answer.json()["error"] == "outside_window"
        assert "template" in answer.json()["detail"]
    assert await stored(js, OUTBOUND) == []
    assert await stored(js, INBOUND) == []
    assert (await send(console, TEMPLATE, key="the-template")).status_code == 202
    assert len(await stored(js, OUTBOUND)) == 1
    assert counted_since(before) == {"outside_window": 2, "queued": 1}


async def test_free_form_within_the_window_carries_when_it_opened(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    opened = utcnow() - timedelta(hours=23)
    await remember(js, ConversationState(last_inbound_at=opened))
    text = await send(console, {"to": USER, "from": BUSINESS_NUMBER, "body": "Your parcel left."})
    media = await send(console, {"to": USER, "media_urls": ["https://x.io/a.jpg"]}, key="m-1")
    assert (text.status_code, media.status_code) == (202, 202)
    first, second = (decode(OutboundMessage, raw.data or b"") for raw in await stored(js, OUTBOUND))
    assert (first.kind, first.body, first.from_, first.outreach) == (
        "text",
        "Your parcel left.",
        BUSINESS_NUMBER,
        True,
    )
    assert first.window_opened_at == opened
    assert (second.kind, second.media_urls, second.window_opened_at) == (
        "media",
        ("https://x.io/a.jpg",),
        opened,
    )
    told = [decode_user_inbound(raw.data or b"") for raw in await stored(js, INBOUND)]
    assert [(t.body, t.media_urls) for t in told if isinstance(t, DeskEvent)] == [
        ("Your parcel left.", ()),
        ("", ("https://x.io/a.jpg",)),
    ]


async def test_over_the_rate_limit_it_is_429_with_retry_after_and_a_replay_is_free(
    limited: httpx.AsyncClient, js: JetStreamContext
) -> None:
    before = counted()
    statuses = [(await send(limited, TEMPLATE, key=f"burst-{n}")).status_code for n in range(2)]
    assert statuses == [202, 202]
    over = await send(limited, TEMPLATE, key="burst-2")
    assert over.status_code == 429
    assert over.json()["error"] == "rate_limited"
    assert 95 <= int(over.headers["Retry-After"]) <= 100
    assert (await send(limited, TEMPLATE, key="burst-0")).status_code == 202  # a replay
    assert len(await stored(js, OUTBOUND)) == 2
    assert counted_since(before) == {"queued": 2, "rate_limited": 1, "replayed": 1}


async def test_without_nats_it_is_503_and_a_retry_sends_once(
    nats_server: Any, js: JetStreamContext, limited: httpx.AsyncClient
) -> None:
    await nats_server.stop()
    before = counted()
    down = await send(limited, TEMPLATE, key="while-down")
    assert down.status_code == 503
    assert down.json()["error"] == "unavailable"
    assert counted_since(before) == {"unavailable": 1}
    await nats_server.start()
    for _ in range(75):  # until the console has reconnected
        up = await send(limited, TEMPLATE, key="while-down")
        if up.status_code != 503:
            break
        await asyncio.sleep(0.2)
    assert up.status_code == 202
    messages = [json.loads(raw.data or b"") for raw in await stored(js, OUTBOUND)]
    assert [m["content_sid"] for m in messages] == [SID]


async def test_the_model_is_told_the_text_the_template_says(
    reading: httpx.AsyncClient, js: JetStreamContext
) -> None:
    template = {"content_sid": ORDER_READY_TEMPLATE_SID, "variables": {"1": "Olga"}}
    answer = await send(reading, {"to": USER, "template": template})
    assert answer.status_code == 202
    (told_raw,) = await stored(js, INBOUND)
    told = decode_user_inbound(told_raw.data or b"")
    assert isinstance(told, DeskEvent)
    assert told.body == "Hello Olga, your order is ready."


async def test_a_template_the_account_does_not_have_is_400_and_nothing_is_sent(
    reading: httpx.AsyncClient, js: JetStreamContext
) -> None:
    answer = await send(reading, TEMPLATE)  # SID is no template of the sandbox's
    assert answer.status_code == 400
    assert answer.json()["field"] == "template.content_sid"
    assert await stored(js, OUTBOUND) == []


async def test_a_placeholder_without_a_value_is_400_naming_it(
    reading: httpx.AsyncClient, js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(TEMPLATES, SID, ("See you at {{2}}, {{1}}.", {}))
    answer = await send(
        reading, {"to": USER, "template": {"content_sid": SID, "variables": {"1": "Olga"}}}
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "template.variables"
    assert "{{2}}" in answer.json()["detail"]
    assert await stored(js, OUTBOUND) == []
