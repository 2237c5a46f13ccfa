"""Bounds that keep one user's input from failing a turn on every attempt (issue "Hardening").

What goes into a turn (rate limit by message, characters of text), what comes out of it (the
reply's length, NATS's max payload) and how often one range is attempted: quick checks of the
parts, and of the service in-process; tests/faults proves each against the whole stack. Media
URLs that break URL handling: media/test_download.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from chatbot_common.contracts import InboundMessage, OutboundMessage, encode, utcnow
from chatbot_conversation.inputs import CUT_MARK, Prompt, bounded
from chatbot_conversation.mailbox import Inbound, next_segment
from chatbot_conversation.outbox import Outbox
from chatbot_conversation.replies import (
    APOLOGY,
    REPLY_CUT,
    capped,
    input_too_long,
    rate_limited_partly,
)
from chatbot_conversation.state import ConversationState, LeaseRecord, SeqRange, StateStore
from chatbot_devstack import BUSINESS_NUMBER


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def inbound(seq: int, body: str) -> Inbound:
    message = InboundMessage(
        message_sid=f"SM{seq}",
        account_sid="AC1",
        from_="whatsapp:+15550000001",
        to=BUSINESS_NUMBER,
        body=body,
        received_at=utcnow(),
    )
    return Inbound(
        seq=seq,
        message=message,
        subject="chat.inbound.k",
        data=encode(message),
        headers={},
        stored_at=utcnow(),
    )


def test_a_turn_takes_whole_messages_up_to_its_character_bound() -> None:
    batch = [inbound(seq, "x" * 400) for seq in range(1, 6)] + [inbound(6, "/help")]
    segment, rest = next_segment(batch, max_chars=1000)
    assert ([i.seq for i in segment], [i.seq for i in rest]) == ([1, 2], [3, 4, 5, 6])
    # One message over the bound is a turn of its own; without a bound, up to the command.
    assert [i.seq for i in next_segment([inbound(1, "y" * 5000), *batch], max_chars=1000)[0]] == [1]
    assert [i.seq for i in next_segment(batch)[0]] == [1, 2, 3, 4, 5]


def test_the_models_input_is_cut_to_the_bound_and_says_so() -> None:
    prompts, cut = bounded([Prompt("a" * 30), Prompt("b" * 30)], 45)
    assert cut
    assert [p.text for p in prompts] == ["a" * 30, "b" * 15 + "\n" + CUT_MARK]
    assert bounded([Prompt("short")], 45) == ((Prompt("short"),), False)
    assert "20,000 characters" in input_too_long(20_000)


def test_a_reply_is_capped_at_a_boundary_and_marked() -> None:
    text = " ".join(["word"] * 3000)
    reply = capped(text, 1600)
    assert len(reply) <= 1600
    assert reply.endswith(REPLY_CUT)
    assert reply.removesuffix(REPLY_CUT).rstrip().endswith("word")
    assert capped("short", 1600) == "short"
    assert "last 180 messages" in rate_limited_partly(20, 180)
    assert "last message. Please wait a minute, then send it again." in rate_limited_partly(20, 1)


def test_a_message_is_published_only_once_it_fits_the_servers_max_payload() -> None:
    outbox = Outbox(None, timeout=1, max_payload=lambda: 64 * 1024)  # type: ignore[arg-type]
    message = OutboundMessage(
        kind="text", to="whatsapp:+1", body="\u00e9\n" * 100_000, idempotency_key="k.1-1"
    )
    fitted = outbox.fitting(message)
    assert len(encode(fitted)) <= 60 * 1024
    assert fitted.body.endswith(REPLY_CUT)
    small = message.model_copy(update={"body": "hello"})
    assert outbox.fitting(small) is small


async def test_a_burst_over_the_rate_limit_answers_the_messages_within_it(
    chat: Any, start_service: Any
) -> None:
    async with start_service(user_rate_limit=3, coalesce_window=1.0):
        seqs = [await chat.send(f"m{i}") for i in range(1, 8)]
        await chat.answered(seqs[-1])
        later = await chat.send("m8")
        await chat.answered(later)

    (reply,) = chat.texts()
    assert reply.in_reply_to == tuple(chat.sids[seq] for seq in seqs)
    assert reply.body == f"{rate_limited_partly(3, 4)}\n\nEcho #1: m1\nm2\nm3"
    assert [r.input_text for r in chat.model_requests()] == ["m1\nm2\nm3"]  # m8: silence


async def test_a_range_attempted_as_often_as_allowed_is_apologised_for_without_the_model(
    chat: Any, start_service: Any
) -> None:
    seq = await chat.send("it keeps failing")
    key = chat.key()
    gone = LeaseRecord(owner="dead-replica", expires_at=utcnow() - timedelta(seconds=1))
    pending = SeqRange(first=seq, last=seq, attempts=3, error="MaxPayloadError")
    await StateStore(chat.kv).save(key, ConversationState(lease=gone, pending=pending), revision=0)
    retries = metric("chatbot_turn_retries_total")
    abandoned = metric("chatbot_turns_total", outcome="abandoned")
    calls = metric("chatbot_turn_model_calls_count")
    async with start_service(turn_max_attempts=3):
        state = await chat.answered(seq)

    assert chat.model_requests() == []
    assert [text.body for text in chat.texts()] == [APOLOGY]
    assert (state.last_seq, state.pending) == (seq, None)
    (letter,) = [d for d in await chat.dead_letters() if d.original_id == chat.sids[seq]]
    assert (letter.reason, letter.error_code, letter.attempts) == (
        "turn_attempts_exhausted",
        "MaxPayloadError",
        3,
    )
    assert metric("chatbot_turn_retries_total") == retries + 1
    assert metric("chatbot_turns_total", outcome="abandoned") == abandoned + 1
    assert metric("chatbot_turn_model_calls_count") == calls + 1
    assert (
        metric(
            "chatbot_dlq_messages_total", service="conversation", reason="turn_attempts_exhausted"
        )
        >= 1
    )


async def test_a_range_taken_again_counts_one_attempt_more() -> None:
    first = SeqRange(first=4, last=6)
    again = first.again()
    assert (
        again.attempts,
        again.same_range(first),
        first.same_range(SeqRange(first=4, last=5)),
    ) == (
        2,
        True,
        False,
    )
