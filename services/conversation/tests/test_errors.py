"""Model errors: transient ones retried (honouring Retry-After), the rest apologised for.

Each case queues a fault in the sandbox's responder; the service talks to it through the real
openai SDK with the SDK's own retries off, so every attempt seen here is the service's.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from chatbot_conversation.replies import APOLOGY


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def llm_errors(error: str) -> float:
    return metric("chatbot_llm_errors_total", model="gpt-test", error=error)


# A request that timed out is still being answered, so its conversation stays locked for a
# while: the timeout case backs off long enough to get past that, as production's defaults do.
SLOW_BACKOFF = {"openai_timeout": 0.3, "openai_backoff_initial": 0.3, "openai_backoff_max": 1.0}


@pytest.mark.parametrize(
    ("fault", "spec", "error", "status", "settings"),
    [
        ("rate_limit", {"retry_after": 0.3}, "rate_limited", 429, {}),
        ("server_error", {}, "server_error", 500, {}),
        ("conversation_locked", {}, "conversation_locked", 400, {}),
        ("stall", {"seconds": 0.5}, "timeout", None, SLOW_BACKOFF),
    ],
)
async def test_a_transient_error_is_retried_and_the_user_gets_the_answer(
    chat: Any,
    start_service: Any,
    fault: str,
    spec: dict[str, float],
    error: str,
    status: int | None,
    settings: dict[str, float],
) -> None:
    errors_before = llm_errors(error)
    chat.fault(fault, **spec)
    async with start_service(**settings):
        seq = await chat.send("hello")
        (reply,) = await chat.replies(1)
        await chat.answered(seq)

    # A timed-out request still completes on the server, in the same conversation (as on
    # OpenAI), so the retry's answer is the conversation's second.
    assert reply == ("Echo #2: hello" if error == "timeout" else "Echo #1: hello")
    assert llm_errors(error) == errors_before + 1
    assert await chat.dead_letters() == []
    if status is not None:
        failed, retried = chat.model_requests()
        assert (failed.status_code, retried.status_code) == (status, 200)
        if fault == "rate_limit":
            waited = (retried.received_at - failed.received_at).total_seconds()
            assert waited >= 0.3  # Retry-After, although the backoff alone is ~10 ms


async def test_spent_retries_get_an_apology_and_a_dead_letter(
    chat: Any, start_service: Any
) -> None:
    gave_up_before = metric("chatbot_turns_total", outcome="gave_up")
    chat.fault("server_error", count=10)
    async with start_service(openai_max_attempts=3):
        seq = await chat.send("hello")
        assert await chat.replies(1) == [APOLOGY]
        await chat.answered(seq)

    assert [r.status_code for r in chat.model_requests()] == [500, 500, 500]
    (letter,) = await chat.dead_letters()
    assert (letter.service, letter.reason, letter.error_code, letter.attempts) == (
        "conversation",
        "llm_retries_exhausted",
        "server_error",
        3,
    )
    assert letter.original_id == chat.sids[seq]
    assert letter.original_subject == f"chat.inbound.{chat.key()}"
    assert metric("chatbot_turns_total", outcome="gave_up") == gave_up_before + 1


async def test_insufficient_quota_is_not_retried_and_is_counted_for_an_alert(
    chat: Any, start_service: Any
) -> None:
    quota_before = llm_errors("insufficient_quota")
    dead_before = metric("chatbot_dlq_messages_total", service="conversation", reason="llm_failed")
    chat.fault("insufficient_quota", count=5)
    async with start_service():
        seq = await chat.send("hello")
        assert await chat.replies(1) == [APOLOGY]
        await chat.answered(seq)

    assert [r.status_code for r in chat.model_requests()] == [429]
    (letter,) = await chat.dead_letters()
    assert (letter.reason, letter.error_code, letter.attempts) == (
        "llm_failed",
        "insufficient_quota",
        1,
    )
    assert llm_errors("insufficient_quota") == quota_before + 1
    assert (
        metric("chatbot_dlq_messages_total", service="conversation", reason="llm_failed")
        == dead_before + 1
    )


async def test_a_conversation_openai_no_longer_knows_is_replaced(
    chat: Any, start_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    replaced_before = metric("chatbot_conversations_replaced_total")
    async with start_service():
        await chat.send("first")
        await chat.replies(1)
        chat.sandbox.store.conversations.clear()  # as if OpenAI deleted it
        seq = await chat.send("second")
        replies = await chat.replies(2)
        state = await chat.answered(seq)

    assert replies == ["Echo #1: first", "Echo #1: second"]
    first, lost, second = chat.model_requests()
    assert lost.status_code == 404
    assert first.conversation == lost.conversation != second.conversation
    assert state.conversation_id == second.conversation
    assert metric("chatbot_conversations_replaced_total") == replaced_before + 1
    assert "no longer knows this conversation" in caplog.text
