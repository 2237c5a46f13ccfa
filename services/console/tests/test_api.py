"""The console's API against a real NATS and the sandbox's OpenAI: finding a user by phone,
what is held about them, their transcript, dead letters and their replay, and the requests it
sends the conversation service in the user's own order, each one audited."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import openai
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from chatbot_common.bus import publish
from chatbot_common.contracts import (
    AuditEvent,
    DeadLetter,
    DeskEvent,
    InboundMessage,
    decode,
    decode_user_inbound,
    utcnow,
)
from chatbot_common.topology import (
    AUDIT,
    CONVERSATIONS_BUCKET,
    DELIVERIES_BUCKET,
    DLQ,
    HANDOFFS_BUCKET,
    INBOUND,
    OUTBOUND,
    REQUESTS_BUCKET,
    SENDER_ERASE,
)
from chatbot_conversation.state import Address, ChatTurn, ConversationState, Handoff, StateStore
from chatbot_devstack import ACCOUNT_SID, BUSINESS_NUMBER, USER, user_number
from chatbot_devstack.embedded import RunningSandbox

from .conftest import KEY

SINCE = datetime(2026, 12, 1, 9, tzinfo=UTC)


async def remember(js: JetStreamContext, state: ConversationState) -> None:
    """The user's state, as the conversation service writes it."""
    await StateStore(await js.key_value(CONVERSATIONS_BUCKET.name)).save(KEY, state, revision=0)


async def message(js: JetStreamContext, body: str) -> int:
    sid = f"SM{body.encode().hex():0<32}"[:34]
    sent = InboundMessage(
        message_sid=sid,
        account_sid=ACCOUNT_SID,
        from_=USER,
        to=BUSINESS_NUMBER,
        body=body,
        received_at=utcnow(),
    )
    return (await publish(js, INBOUND.subject(KEY), sent, msg_id=sid, timeout=5)).seq


async def audited(js: JetStreamContext) -> list[AuditEvent]:
    info = await js.stream_info(AUDIT.name)
    return [
        decode(AuditEvent, (await js.get_msg(AUDIT.name, seq=seq)).data or b"")
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
        if info.state.messages
    ]


async def test_a_user_is_found_by_phone_and_the_lookup_audited_without_the_number(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    await remember(js, ConversationState(messages=3))
    answer = await console.get("/api/users", params={"phone": USER})
    assert answer.status_code == 200
    assert answer.json() == {
        "users": [{"user_key": KEY, "business": BUSINESS_NUMBER, "known": True}]
    }
    stranger = await console.get("/api/users", params={"phone": user_number(9)})
    assert stranger.json()["users"][0]["known"] is False
    events = await audited(js)
    assert [(e.operator, e.action, e.target) for e in events] == [
        ("Olga", "lookup", KEY),
        ("Olga", "lookup", None),
    ]
    assert USER.removeprefix("whatsapp:") not in str(events)
    refused = await console.get("/api/users", params={"phone": "+15550001111"})
    assert refused.status_code == 400
    assert "whatsapp:+" in refused.json()["detail"]


async def test_a_user_s_page_has_their_mode_counters_unanswered_and_dead_letters(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    first = await message(js, "hello")
    await message(js, "anyone?")
    handoff = Handoff(
        desk_conversation="7",
        since=SINCE,
        reason="keyword",
        waiting_since=SINCE,
    )
    address = Address(user=USER, business=BUSINESS_NUMBER)
    await remember(
        js,
        ConversationState(
            last_seq=first, messages=1, turns=1, tokens=42, handoff=handoff, address=address
        ),
    )
    letter = DeadLetter(
        service="conversation",
        reason="desk_unavailable",
        attempts=1,
        original_subject=INBOUND.subject(KEY),
        original_payload="{}",
    )
    await publish(js, DLQ.subject("conversation"), letter, msg_id="dlq-1", timeout=5)

    view = (await console.get(f"/api/users/{KEY}")).json()
    assert (view["mode"], view["handoff"]["reason"], view["handoff"]["desk_conversation"]) == (
        "handoff",
        "keyword",
        "7",
    )
    assert (view["messages"], view["turns"], view["tokens"]) == (1, 1, 42)
    assert view["opted_out"] is False
    assert view["unanswered"] == 1
    assert view["dead_letters"] == [1]
    assert "address" not in view["handoff"]  # no phone number in the view
    assert (await console.get(f"/api/users/{'0' * 32}")).status_code == 404
    assert (await console.get("/api/users/not-a-key")).status_code == 400


async def test_the_transcript_comes_from_the_openai_conversation_or_the_history(
    console: httpx.AsyncClient, js: JetStreamContext, sandbox: RunningSandbox
) -> None:
    async with openai.AsyncOpenAI(api_key="sandbox", base_url=sandbox.openai_base_url) as client:
        conversation = await client.conversations.create()
        await client.conversations.items.create(
            conversation.id,
            items=[
                {"type": "message", "role": "user", "content": "where is my parcel?"},
                {"type": "message", "role": "assistant", "content": "On its way."},
            ],
        )
    await remember(js, ConversationState(conversation_id=conversation.id))
    transcript = (await console.get(f"/api/users/{KEY}/transcript")).json()
    assert transcript == {
        "source": "openai",
        "lines": [
            {"role": "user", "text": "where is my parcel?"},
            {"role": "assistant", "text": "On its way."},
        ],
    }


async def test_dead_letters_are_listed_filtered_shown_and_replayed_once(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    original = await message(js, "lost")
    payload = (await js.get_msg(INBOUND.name, seq=original)).data.decode()
    for reason in ("llm_failed", "desk_unavailable"):
        letter = DeadLetter(
            service="conversation",
            reason=reason,
            attempts=2,
            original_subject=INBOUND.subject(KEY),
            original_id=f"SM-{reason}",
            original_payload=payload,
        )
        await publish(js, DLQ.subject("conversation"), letter, msg_id=reason, timeout=5)

    listed = (await console.get("/api/dlq", params={"reason": "llm_failed"})).json()
    assert [(d["id"], d["record"]["reason"]) for d in listed["dead_letters"]] == [(1, "llm_failed")]
    assert (await console.get("/api/dlq", params={"service": "sender"})).json() == {
        "dead_letters": [],
        "unreadable": [],
    }
    shown = (await console.get("/api/dlq/1")).json()
    assert shown["record"]["original_payload"] == payload
    first = (await console.post("/api/dlq/1/replay")).json()
    again = (await console.post("/api/dlq/1/replay")).json()
    assert (first["outcome"], again["outcome"]) == ("replayed", "already_replayed")
    replayed = await js.get_msg(INBOUND.name, seq=int(first["where"].split(":")[1]))
    assert replayed.data.decode() == payload
    assert (await console.get("/api/dlq/99")).status_code == 404
    assert [e.target for e in await audited(js)] == ["dlq:1", "dlq:1"]


async def test_a_reset_a_handoff_and_a_handback_are_asked_in_the_user_s_order_and_audited(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    before = await message(js, "hello")
    reset = await console.post(f"/api/users/{KEY}/reset")
    handoff = await console.post(f"/api/users/{KEY}/handoff")
    handback = await console.post(f"/api/users/{KEY}/handback")
    assert (reset.status_code, handoff.status_code, handback.status_code) == (202, 202, 202)

    asked = []
    for seq in (before + 1, before + 2, before + 3):
        raw = await js.get_msg(INBOUND.name, seq=seq)
        event = decode_user_inbound(raw.data or b"")
        assert isinstance(event, DeskEvent)
        assert raw.subject == INBOUND.subject(KEY)
        asked.append((event.desk, event.event, event.delivery_id))
    assert asked == [
        ("operator", "reset", reset.json()["request"]),
        ("operator", "handoff", handoff.json()["request"]),
        ("operator", "handback", handback.json()["request"]),
    ]
    assert [(e.action, e.user_key) for e in await audited(js)] == [
        ("reset", KEY),
        ("handoff", KEY),
        ("handback", KEY),
    ]


async def test_the_chat_backend_s_transcript_is_its_history(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    history = (ChatTurn(role="user", content="hi"), ChatTurn(role="assistant", content="Hello!"))
    await remember(js, ConversationState(history=history))
    transcript = (await console.get(f"/api/users/{KEY}/transcript")).json()
    assert transcript == {
        "source": "history",
        "lines": [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "Hello!"}],
    }


async def test_an_export_holds_everything_about_the_user_and_is_audited(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    seq = await message(js, "my address is 1 Main St")
    await remember(js, ConversationState(last_seq=seq, messages=1, tokens=7))
    deliveries = await js.key_value(DELIVERIES_BUCKET.name)
    await deliveries.put(f"{KEY}.{seq}-{seq}.0", b"SM0123")
    await deliveries.put(f"{'f' * 32}.1-1.0", b"SM-someone-else")
    letter = DeadLetter(
        service="sender",
        reason="twilio_rejected",
        attempts=1,
        original_subject=OUTBOUND.subject(KEY),
        original_payload="{}",
    )
    await publish(js, DLQ.subject("sender"), letter, msg_id="dlq-export", timeout=5)

    document = (await console.get(f"/api/users/{KEY}/export")).json()
    assert document["user_key"] == KEY
    assert document["state"]["tokens"] == 7
    (stored,) = document["messages"]
    assert (stored["stream"], stored["seq"]) == ("CHAT_INBOUND", seq)
    assert stored["message"]["body"] == "my address is 1 Main St"
    assert stored["message"]["from"] == USER  # the user's own data, theirs to have
    assert document["deliveries"] == {f"{KEY}.{seq}-{seq}.0": "SM0123"}
    assert [d["reason"] for d in document["dead_letters"]] == ["twilio_rejected"]
    assert document["transcript"] == {"source": "none", "lines": []}
    assert [(e.action, e.user_key) for e in await audited(js)] == [("export", KEY)]
    assert (await console.get(f"/api/users/{'e' * 32}/export")).status_code == 404


async def test_the_overview_counts_traffic_dead_letters_waiting_users_and_model_dates(
    console: httpx.AsyncClient, js: JetStreamContext
) -> None:
    for body in ("one", "two"):
        await message(js, body)
    for reason in ("llm_failed", "llm_failed", "desk_unavailable"):
        letter = DeadLetter(
            service="conversation",
            reason=reason,
            attempts=1,
            original_subject=INBOUND.subject(KEY),
            original_payload="{}",
        )
        await publish(js, DLQ.subject("conversation"), letter, msg_id=uuid4().hex, timeout=5)
    assert (await console.get("/api/overview")).json()["handoff"] is None  # no desk yet
    handoffs = await js.create_key_value(bucket=HANDOFFS_BUCKET.name)
    waiting = (utcnow() - timedelta(minutes=5)).isoformat()
    await handoffs.put(
        KEY, f'{{"quiet_since": "{waiting}", "waiting_since": "{waiting}"}}'.encode()
    )
    await handoffs.put("f" * 32, f'{{"quiet_since": "{waiting}", "waiting_since": null}}'.encode())

    overview = (await console.get("/api/overview")).json()
    assert (overview["inbound_last_hour"], overview["outbound_last_hour"]) == (2, 0)
    assert overview["dead_letters_by_reason"] == {"llm_failed": 2, "desk_unavailable": 1}
    assert overview["handoff"]["users"] == 2
    assert overview["handoff"]["waiting"] == 1
    assert 299 < overview["handoff"]["oldest_wait_seconds"] < 330
    assert overview["models"] == [
        {"model": "gpt-5-mini", "shutdown_date": "2026-12-11", "known": True},
        {"model": "gpt-withdrawn", "shutdown_date": None, "known": False},
    ]


async def test_an_erase_is_asked_in_the_user_s_order_and_answers_each_store_s_outcome(
    console: httpx.AsyncClient, js: JetStreamContext, nc: NATS
) -> None:
    """The test plays the conversation service (its report) and the sender (its reply)."""

    async def sender(msg: Msg) -> None:
        assert msg.data.decode() == KEY
        await msg.respond(b'{"deleted": 3}')

    await nc.subscribe(SENDER_ERASE, cb=sender)
    requests = await js.key_value(REQUESTS_BUCKET.name)

    asked = await nc.subscribe(INBOUND.subject(KEY))  # what JetStream stores, seen as sent

    async def conversation_service() -> None:
        raw = await asked.next_msg(timeout=10)
        event = decode_user_inbound(raw.data)
        assert isinstance(event, DeskEvent)
        assert (event.desk, event.event) == ("operator", "erase")
        report = {"openai_conversation": "deleted", "CHAT_INBOUND": "purged"}
        await requests.put(event.delivery_id.rpartition(":")[2], json.dumps(report).encode())

    playing = asyncio.create_task(conversation_service())
    answer = await console.post(f"/api/users/{KEY}/erase")
    await playing
    assert answer.status_code == 200
    assert answer.json()["done"] is True
    assert answer.json()["stores"] == {
        "openai_conversation": "deleted",
        "CHAT_INBOUND": "purged",
        "CHAT_DELIVERIES": "deleted 3",
    }
    assert [(e.action, e.user_key) for e in await audited(js)] == [("erase", KEY)]


async def test_an_erase_says_so_when_no_sender_answers(
    console: httpx.AsyncClient, js: JetStreamContext, nc: NATS
) -> None:
    requests = await js.key_value(REQUESTS_BUCKET.name)
    asked = await nc.subscribe(INBOUND.subject(KEY))

    async def conversation_service() -> None:
        event = decode_user_inbound((await asked.next_msg(timeout=10)).data)
        assert isinstance(event, DeskEvent)
        await requests.put(event.delivery_id.rpartition(":")[2], b'{"CHAT_INBOUND": "purged"}')

    playing = asyncio.create_task(conversation_service())
    answer = await console.post(f"/api/users/{KEY}/erase")
    await playing
    assert answer.json()["stores"] == {
        "CHAT_INBOUND": "purged",
        "CHAT_DELIVERIES": "failed: no sender answered (erase again)",
    }
