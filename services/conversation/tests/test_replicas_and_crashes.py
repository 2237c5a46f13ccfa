"""One turn at a time per user across replicas, and nothing lost or doubled by a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY

from chatbot_common.bus import publish
from chatbot_common.contracts import OutboundMessage, utcnow
from chatbot_common.topology import OUTBOUND
from chatbot_conversation.state import ConversationState, LeaseRecord, SeqRange, StateStore


async def test_two_replicas_never_run_two_turns_for_one_user_at_once(
    chat: Any, start_service: Any
) -> None:
    users = [chat.USER, chat.OTHER, "whatsapp:+15550000003"]
    contention = REGISTRY.get_sample_value("chatbot_lease_contention_total") or 0.0
    chat.fault("stall", seconds=0.1, count=1000)  # every answer takes a while
    async with start_service(), start_service():
        sent: dict[str, list[int]] = {user: [] for user in users}
        for number in range(1, 5):
            for user in users:
                sent[user].append(await chat.send(f"m{number}", user=user))
        states = await asyncio.gather(*(chat.answered(sent[u][-1], user=u) for u in users))

    records = chat.sandbox.store.openai_requests.snapshot()
    # The responder refuses a second response on a busy conversation: none was refused.
    assert [r.error_code for r in records if r.status_code != 200] == []
    assert sum(r.endpoint == "conversations.create" for r in records) == len(users)
    for user, state in zip(users, states, strict=True):
        texts = chat.texts(user)
        answered = [sid for text in texts for sid in text.in_reply_to]
        assert answered == [chat.sids[seq] for seq in sent[user]]  # all, once, in order
        bodies = [text.body.split(": ", 1) for text in texts]
        assert [number for number, _ in bodies] == [f"Echo #{n}" for n in range(1, len(texts) + 1)]
        assert "\n".join(body for _, body in bodies).split("\n") == ["m1", "m2", "m3", "m4"]
        assert state.turns == len(texts)
    # The replicas did meet: deliveries found the user's turn running and were given back.
    assert (REGISTRY.get_sample_value("chatbot_lease_contention_total") or 0.0) > contention


async def test_kill_9_mid_turn_then_restart_answers_exactly_once(
    chat: Any, service_process: Any
) -> None:
    chat.fault("stall", seconds=1.0)  # the first answer is slow: kill the service during it
    process = service_process(INBOUND_ACK_WAIT="2", LEASE_TTL="1", OPENAI_BACKOFF_INITIAL="0.2")
    process.start()
    try:
        await process.ready(30)
        seq = await chat.send("hello")
        await chat.model_request_in_flight()
        await process.kill()
        process = process.respawn()
        process.start()
        await process.ready(30)
        await chat.replies(1, timeout=20)
        after = await chat.send("after")
        await chat.replies(2)
        await chat.answered(after)
    finally:
        await process.stop(10)

    texts = chat.texts()
    assert [text.body.split(": ", 1)[1] for text in texts] == ["hello", "after"]
    assert texts[0].idempotency_key == f"{chat.key()}.{seq}-{seq}"
    assert await chat.dead_letters() == []
    # The restarted service continued the conversation the killed one had created.
    records = chat.sandbox.store.openai_requests.snapshot()
    (created,) = [r.conversation for r in records if r.endpoint == "conversations.create"]
    assert {r.conversation for r in chat.model_requests()} == {created}


async def test_a_new_conversation_is_kept_before_the_model_is_asked_in_it(
    chat: Any, start_service: Any
) -> None:
    """So a holder that dies after its answer went out leaves the conversation to continue."""
    chat.fault("stall", seconds=0.5)
    async with start_service():
        seq = await chat.send("hello")
        await chat.model_request_in_flight()
        during = await chat.state()
        await chat.answered(seq)
        await chat.send("and then")
        await chat.replies(2)

    (asked, *_) = chat.model_requests()
    assert (during.conversation_id, during.pending) == (
        asked.conversation,
        SeqRange(first=seq, last=seq),
    )
    assert during.last_seq < seq
    assert await chat.replies(2) == ["Echo #1: hello", "Echo #2: and then"]


def dead_holder(pending: SeqRange) -> ConversationState:
    """The state a replica leaves when it dies holding the lease for ``pending``."""
    gone = LeaseRecord(owner="dead-replica", expires_at=utcnow() - timedelta(seconds=1))
    return ConversationState(lease=gone, pending=pending)


async def test_a_reply_published_before_a_crash_is_committed_without_asking_again(
    chat: Any, start_service: Any
) -> None:
    seq = await chat.send("hello")
    key = chat.key()
    reply = OutboundMessage(
        kind="text",
        to=chat.USER,
        from_=chat.BUSINESS,
        body="Echo #1: hello",
        in_reply_to=(chat.sids[seq],),
        idempotency_key=f"{key}.{seq}-{seq}",
    )
    await publish(chat.js, OUTBOUND.subject(key), reply, msg_id=reply.idempotency_key, timeout=5)
    await StateStore(chat.kv).save(key, dead_holder(SeqRange(first=seq, last=seq)), revision=0)
    async with start_service():
        state = await chat.answered(seq)

    assert chat.model_requests() == []
    assert [text.body for text in chat.texts()] == ["Echo #1: hello"]
    assert (state.last_seq, state.pending) == (seq, None)


async def test_a_dead_holders_range_is_answered_first_and_alone(
    chat: Any, start_service: Any
) -> None:
    first = await chat.send("one")
    second = await chat.send("two")
    key = chat.key()
    await StateStore(chat.kv).save(key, dead_holder(SeqRange(first=first, last=first)), revision=0)
    async with start_service():
        await chat.answered(second)

    assert await chat.replies(2) == ["Echo #1: one", "Echo #2: two"]
    assert [text.idempotency_key for text in chat.texts()] == [
        f"{key}.{first}-{first}",
        f"{key}.{second}-{second}",
    ]
