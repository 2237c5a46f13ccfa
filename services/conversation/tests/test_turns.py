"""Turns end to end inside the service: real nats-server, real sandbox, the real openai SDK."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from chatbot_common.contracts import utcnow
from chatbot_common.topology import INBOUND
from chatbot_conversation.app import CONSUMER_NAME
from chatbot_conversation.history import estimate_tokens
from chatbot_conversation.replies import HELP, OVER_BUDGET, RESET_DONE, rate_limited
from chatbot_conversation.state import StateStore


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_message_gets_typing_then_one_reply_and_a_committed_state(
    chat: Any, start_service: Any
) -> None:
    replied_before = metric("chatbot_turns_total", outcome="replied")
    async with start_service():
        seq = await chat.send("hello there")
        assert await chat.replies(1) == ["Echo #1: hello there"]
        state = await chat.answered(seq)

    key = chat.key()
    typing, reply = chat.outbound
    assert (typing.kind, typing.in_reply_to, typing.idempotency_key) == (
        "typing",
        (chat.sids[seq],),
        f"{key}.{seq}-{seq}.typing",
    )
    assert (reply.to, reply.from_, reply.in_reply_to) == (
        chat.USER,
        chat.BUSINESS,
        (chat.sids[seq],),
    )
    assert reply.idempotency_key == f"{key}.{seq}-{seq}"
    (request,) = chat.model_requests()
    assert request.instructions == "Answer briefly."
    assert request.safety_identifier == key
    assert request.input == "hello there"
    assert request.conversation == state.conversation_id is not None
    assert (state.last_seq, state.turns, state.messages) == (seq, 1, 1)
    assert state.tokens > 0
    assert state.lease is None
    assert state.pending is None
    assert metric("chatbot_turns_total", outcome="replied") == replied_before + 1


async def test_spans_follow_the_inbound_trace_with_gen_ai_attributes_and_no_text(
    chat: Any, start_service: Any, spans: InMemorySpanExporter
) -> None:
    ingress = TracerProvider().get_tracer("test-ingress")
    async with start_service():
        with ingress.start_as_current_span("webhook") as webhook:
            seq = await chat.send("my secret text")
        await chat.replies(1)
        await chat.answered(seq)

    finished = {span.name: span for span in spans.get_finished_spans()}
    turn, model = finished["conversation turn"], finished["chat gpt-test"]
    assert turn.context is not None
    assert model.context is not None
    assert turn.context.trace_id == webhook.get_span_context().trace_id
    assert model.parent is not None
    assert model.parent.span_id == turn.context.span_id
    assert turn.attributes is not None
    assert model.attributes is not None
    assert turn.attributes["chatbot.user_key"] == chat.key()
    assert turn.attributes["chatbot.turn.outcome"] == "replied"
    state = await chat.state()
    assert {
        key: model.attributes[key]
        for key in (
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.request.model",
            "gen_ai.conversation.id",
        )
    } == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.conversation.id": state.conversation_id,
    }
    assert model.attributes["gen_ai.usage.output_tokens"] == 5  # "Echo #1: my secret text"
    assert str(model.attributes["gen_ai.response.id"]).startswith("resp_")
    for span in spans.get_finished_spans():
        values = " ".join(str(value) for value in (span.attributes or {}).values())
        assert "secret" not in values
        assert "555" not in values
        assert "Echo" not in values


async def test_a_burst_is_answered_in_order_by_one_coalesced_turn(
    chat: Any, start_service: Any
) -> None:
    async with start_service(coalesce_window=1.0):
        seqs = []
        for number in range(1, 6):
            seqs.append(await chat.send(f"part {number}"))
            await asyncio.sleep(0.05)  # the burst's pace, not a wait for anything
        (reply,) = await chat.replies(1)
        await chat.answered(seqs[-1])

    assert reply == "Echo #1: part 1\npart 2\npart 3\npart 4\npart 5"
    (text,) = chat.texts()
    assert text.in_reply_to == tuple(chat.sids[seq] for seq in seqs)
    assert text.idempotency_key == f"{chat.key()}.{seqs[0]}-{seqs[-1]}"
    (request,) = chat.model_requests()
    assert request.input == "part 1\npart 2\npart 3\npart 4\npart 5"


async def two_messages_during_a_turn(chat: Any, start_service: Any) -> list[str]:
    """ "first", then "second" and "third" while the model answers it; the two replies."""
    chat.fault("stall", seconds=0.5)
    async with start_service():
        await chat.send("first")
        await chat.model_request_in_flight()
        await chat.send("second")
        last = await chat.send("third")
        replies = await chat.replies(2)
        await chat.answered(last)
    return replies


async def test_messages_that_arrive_during_a_turn_are_answered_together_next(
    chat: Any, start_service: Any
) -> None:
    replies = await two_messages_during_a_turn(chat, start_service)

    assert replies == ["Echo #1: first", "Echo #2: second\nthird"]
    assert len(chat.model_requests()) == 2


async def test_deliveries_during_a_turn_wait_for_it_and_are_acked_by_its_commit(
    chat: Any, start_service: Any
) -> None:
    """Not given back to the stream to come round again: no redelivery, nothing left pending."""
    await two_messages_during_a_turn(chat, start_service)

    info = await chat.js.consumer_info(INBOUND.name, CONSUMER_NAME)
    assert (info.num_redelivered, info.num_ack_pending, info.num_pending) == (0, 0, 0)


async def all_acked(chat: Any) -> None:
    """Until nothing delivered to the inbound consumer waits for an ack (given-back messages
    come back after their delay; JetStream has no event for this, so it is polled, bounded)."""
    async with asyncio.timeout(10):
        while True:
            info = await chat.js.consumer_info(INBOUND.name, CONSUMER_NAME)
            if not info.num_ack_pending and not info.num_pending:
                return
            await asyncio.sleep(0.05)


async def test_a_flood_during_a_turn_waits_only_ten_deep_and_the_rest_comes_back(
    chat: Any, start_service: Any
) -> None:
    """One user's flood must not take the slots other users' turns need; nothing is lost."""
    handled = metric("chatbot_consumer_messages_total", consumer=CONSUMER_NAME, outcome="ok")
    chat.fault("stall", seconds=0.5)
    async with start_service():
        await chat.send("first")
        await chat.model_request_in_flight()
        flood = [f"more {number}" for number in range(12)]
        for body in flood:
            last = await chat.send(body)
        replies = await chat.replies(2)
        await chat.answered(last)
        await all_acked(chat)

    assert replies == ["Echo #1: first", "Echo #2: " + "\n".join(flood)]
    # 13 messages; at least the 2 over ten deep were given back and came round again (more
    # often if they came back while the second turn still ran).
    redelivered = (
        metric("chatbot_consumer_messages_total", consumer=CONSUMER_NAME, outcome="ok")
        - handled
        - 13
    )
    assert redelivered >= 2


async def test_reset_and_help_are_turns_of_their_own_in_order(
    chat: Any, start_service: Any
) -> None:
    async with start_service(coalesce_window=1.0):
        await chat.send("one")
        await chat.send("/reset")
        await chat.send("two")
        assert await chat.replies(3) == ["Echo #1: one", RESET_DONE, "Echo #1: two"]
        seq = await chat.send(" /HELP ")
        assert (await chat.replies(4))[-1] == HELP
        state = await chat.answered(seq)

    conversations = [r.conversation for r in chat.model_requests()]
    assert len(set(conversations)) == 2
    assert state.conversation_id == conversations[-1]
    assert (state.turns, state.messages) == (4, 4)


async def test_an_idle_conversation_starts_afresh(chat: Any, start_service: Any) -> None:
    async with start_service():
        seq = await chat.send("before the holidays")
        await chat.replies(1)
        await chat.answered(seq)
        stored = await StateStore(chat.kv).load(chat.key())
        long_ago = utcnow() - timedelta(hours=25)
        await StateStore(chat.kv).save(
            chat.key(),
            stored.state.model_copy(update={"last_turn_at": long_ago}),
            revision=stored.revision,
        )
        seq = await chat.send("after the holidays")
        replies = await chat.replies(2)
        state = await chat.answered(seq)

    assert replies == ["Echo #1: before the holidays", "Echo #1: after the holidays"]
    first, second = chat.model_requests()
    assert first.conversation != second.conversation == state.conversation_id


async def test_the_rate_limit_is_told_once_then_quiet_and_per_user(
    chat: Any, start_service: Any
) -> None:
    limited_before = metric("chatbot_turns_total", outcome="rate_limited")
    async with start_service(user_rate_limit=2):
        for number in (1, 2, 3):
            await chat.send(f"m{number}")
            await chat.replies(number)
        seq = await chat.send("m4")
        await chat.answered(seq)
        await chat.send("hi", user=chat.OTHER)
        other = await chat.replies(1, user=chat.OTHER)

    assert await chat.replies(3) == ["Echo #1: m1", "Echo #2: m2", rate_limited(2)]
    assert other == ["Echo #1: hi"]
    assert len(chat.model_requests()) == 3
    assert metric("chatbot_turns_total", outcome="rate_limited") == limited_before + 2


async def test_the_daily_token_budget_is_told_once_then_quiet(
    chat: Any, start_service: Any
) -> None:
    async with start_service(user_daily_token_budget=5):
        await chat.send("hello")
        await chat.replies(1)
        await chat.send("more")
        await chat.replies(2)
        seq = await chat.send("and more")
        state = await chat.answered(seq)

    assert await chat.replies(2) == ["Echo #1: hello", OVER_BUDGET]
    assert len(chat.model_requests()) == 1
    assert state.budget is not None
    assert state.budget.tokens == state.tokens == 6  # 2 + 1 words in, 3 out


async def test_the_chat_backend_sends_history_trimmed_to_its_token_budget(
    chat: Any, start_service: Any
) -> None:
    budget = 100
    texts = [f"message {number} " + "x" * 50 for number in range(1, 6)]
    async with start_service(openai_backend="chat", chat_history_tokens=budget):
        for count, text in enumerate(texts, start=1):
            seq = await chat.send(text)
            await chat.replies(count)
        state = await chat.answered(seq)

    requests = chat.model_requests()
    assert [r.endpoint for r in requests] == ["chat.completions.create"] * 5
    for request, text in zip(requests, texts, strict=True):
        system, *messages = request.input
        assert system == {"role": "system", "content": "Answer briefly."}
        assert messages[0]["role"] == "user"
        assert messages[-1] == {"role": "user", "content": text}
        assert sum(estimate_tokens(m["content"]) for m in messages) <= budget
    last = [m["content"] for m in requests[-1].input]
    assert texts[0] not in last  # the oldest exchange was trimmed away
    assert texts[3] in last
    assert (await chat.replies(5))[3] in last
    assert sum(estimate_tokens(turn.content) for turn in state.history) <= budget
    assert state.history[-1].role == "assistant"
    assert state.conversation_id is None
