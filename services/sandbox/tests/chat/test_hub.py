"""The chat's transcript (kept messages, ticks, closing) and what its clients share (the wire)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from chatbot_sandbox.chat.hub import END, MAX_MESSAGES, ChatHub, ChatMessage
from chatbot_sandbox.chat.wire import normalise_number, read_events
from chatbot_sandbox.process import SandboxSettings, SandboxStore

USER = "+15550001111"


def _hub(store: SandboxStore | None = None) -> ChatHub:
    return ChatHub(store or SandboxStore(SandboxSettings()))


def _message(sid: str, user: str) -> ChatMessage:
    return ChatMessage(sid, user, "in", "hi", "pending")


def test_the_transcript_keeps_the_latest_messages_for_everyone_and_per_user() -> None:
    hub = _hub()
    users = ("+15550000001", "+15550000002")
    for index in range(MAX_MESSAGES + 3):
        hub.add(_message(f"SM{index}", users[index % 2]))

    assert [m.id for m in hub.messages()] == [f"SM{i}" for i in range(3, MAX_MESSAGES + 3)]
    for parity, user in enumerate(users):
        kept = [f"SM{i}" for i in range(3, MAX_MESSAGES + 3) if i % 2 == parity]
        assert [m.id for m in hub.messages(user)] == kept
    assert hub.messages("+15550000003") == []


async def test_closing_the_hub_ends_its_streams() -> None:
    hub = _hub()
    with hub.subscribe(USER) as (queue, _):
        hub.close()
        hub.add(_message("SM1", USER))
        assert await queue.get() == END
        assert queue.empty()  # nothing after the end


def test_a_stream_that_falls_too_far_behind_is_ended_so_it_starts_again() -> None:
    hub = _hub()
    with hub.subscribe(USER) as (queue, _):
        for index in range(2000):
            hub.add(_message(f"SM{index}", USER))
        events = [queue.get_nowait() for _ in range(queue.qsize())]
    assert events == [END]  # what it had not read is stale: its reader reconnects at once


def test_a_desk_change_is_told_to_the_streams_of_everyone_only() -> None:
    store = SandboxStore(SandboxSettings())
    hub = _hub(store)
    with hub.subscribe(None) as (everyone, _), hub.subscribe(USER) as (one, _):
        store.chatwoot_changes.append(7)
        assert everyone.get_nowait() == ("desk", {"conversation": 7})
        assert one.empty()


def test_ticks_only_move_forward() -> None:
    hub = _hub()
    hub.add(message := _message("SM" + "0" * 32, USER))
    for status in ["sent", "read", "delivered", "sent"]:
        hub.update(message.id, status)
    assert message.status == "read"
    hub.add(other := _message("SM" + "1" * 32, USER))
    hub.update(other.id, "failed", "Twilio error 63016")
    hub.update(other.id, "delivered")
    assert (other.status, other.error) == ("failed", "Twilio error 63016")


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("+15550001111", "+15550001111"),
        ("whatsapp:+15550001111", "+15550001111"),
        ("1 555 000-1111", "+15550001111"),
        ("0044 7700 900123", "+447700900123"),
        ("(+44) 7700.900.123", "+447700900123"),
    ],
)
def test_numbers_are_read_the_way_people_type_them(typed: str, number: str) -> None:
    assert normalise_number(typed) == number


@pytest.mark.parametrize("typed", ["", "hello", "+0155500011", "+1555", "+1" + "5" * 15])
def test_what_is_not_a_number_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="international format"):
        normalise_number(typed)


async def test_the_servers_events_are_read_back() -> None:
    async def lines() -> AsyncIterator[str]:
        text = b"".join(
            [
                format_sse_event(event="snapshot", data_str='{"a": 1, "b": "x\\ny"}', retry=1000),
                KEEPALIVE_COMMENT,
                format_sse_event(event="status", data_str="[1]"),
            ]
        )
        for line in text.decode().split("\n"):
            yield line

    events = [event async for event in read_events(lines())]
    assert events == [("snapshot", {"a": 1, "b": "x\ny"}), ("status", [1])]
