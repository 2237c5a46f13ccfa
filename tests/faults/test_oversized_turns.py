"""Turns too large to answer, and turns that keep failing: bounded, never a loop of model calls.

The loop this ended (a reply over NATS's max payload, redelivered and asked again for ever) and
the bounds that must hold: docs/reliability.md, "A turn too large to answer, or one that fails
on every attempt".
"""

from __future__ import annotations

import contextlib

import pytest
from nats.js.api import StreamConfig

from chatbot_common.contracts import encode
from chatbot_common.topology import OUTBOUND
from chatbot_conversation.replies import APOLOGY
from chatbot_devstack import inbound_form, user_number

from .conftest import SystemFactory
from .system import System

pytestmark = pytest.mark.e2e

NATS_MAX_PAYLOAD = 1024 * 1024
"""nats-server's default max_payload, which the stack runs with."""
BURST = 20
"""Messages in the burst: USER_RATE_LIMIT's default, so that none of them is rate limited."""
LONG = 55_000
"""Characters of each message: a webhook body stays under ingress's 64 KiB, the burst over 1 MB."""


async def model_calls(system: System) -> float:
    """Model requests the conversation service made (attempts, retries included)."""
    return await system.metric("conversation", "chatbot_llm_request_seconds_count")


async def settled(system: System, timeout: float) -> bool:
    """Whether everything was handled within ``timeout`` (False: something still loops)."""
    with contextlib.suppress(TimeoutError):
        await system.settle(timeout=timeout)
        return True
    return False


async def test_a_burst_too_large_for_one_reply_is_answered_in_bounded_turns(
    start_system: SystemFactory,
) -> None:
    user = user_number(3)
    # The burst is sent within the coalescing window, so it is one batch, as in the incident.
    async with start_system(COALESCE_WINDOW="3") as system:
        forms = [inbound_form(f"m{i} " + "x" * LONG, user=user) for i in range(BURST)]
        for form in forms:
            await system.deliver(form)
        done = await settled(system, timeout=60)
        calls = await model_calls(system)
        retries = await system.metric("conversation", "chatbot_turn_retries_total")
        outcome = await system.outcome()
        # (Read only once settled: a loop leaves the sandbox holding megabytes per request.)
        requests = [
            r["input_text"] or ""
            for r in (await system.sandbox_records("openai/requests") if done else [])
            if r["endpoint"] == "responses.create"
        ]

    replies = [reply for reply in outcome.replies if reply.to == user]
    assert done, f"still not settled after 60 s: {calls:g} model calls, {len(replies)} replies"
    sids = [form["MessageSid"] for form in forms]
    assert [sid for reply in replies for sid in reply.in_reply_to] == sids
    assert not [r for r in replies if r.body == APOLOGY]
    assert not outcome.dead_letters
    # Several turns, one model call each, each within the input bound; every reply fits.
    assert 1 < len(replies) == len(requests) == calls
    assert max(len(text) for text in requests) <= 20_000 + 200
    for reply in replies:
        assert len(reply.body) <= 8_000 + 500
        assert len(encode(reply)) < NATS_MAX_PAYLOAD
        assert reply.body.partition(": ")[2].startswith(f"m{sids.index(reply.in_reply_to[0])} ")
    assert retries == 0


async def test_a_turn_that_keeps_failing_ends_in_the_apology_after_bounded_attempts(
    start_system: SystemFactory,
) -> None:
    user = user_number(4)
    async with start_system() as system:
        # CHAT_OUTBOUND takes no message over 4 KiB: publishing this user's answer fails on
        # every attempt (as any failure that repeats would), the apology fits.
        info = await system.js.stream_info(OUTBOUND.name)
        config: StreamConfig = info.config
        config.max_msg_size = 4096
        await system.js.update_stream(config)
        form = inbound_form("too long to publish " + "y" * 6000, user=user)
        await system.deliver(form)
        done = await settled(system, timeout=45)
        calls = await model_calls(system)
        retries = await system.metric("conversation", "chatbot_turn_retries_total")
        abandoned = await system.metric("conversation", "chatbot_turns_total", outcome="abandoned")
        outcome = await system.outcome()
        # The user is not wedged: the next message is answered.
        later = inbound_form("and now a short one", user=user)
        if done:
            await system.deliver(later)
            await system.settle()
        after = await system.outcome()

    replies = [reply for reply in outcome.replies if reply.to == user]
    assert done, f"still not settled after 45 s: {calls:g} model calls, {len(replies)} replies"
    assert [(r.body, r.in_reply_to) for r in replies] == [(APOLOGY, (form["MessageSid"],))]
    assert calls == 3  # TURN_MAX_ATTEMPTS: the fourth attempt asks nothing
    assert (retries, abandoned) == (2 + 1, 1)
    (letter,) = outcome.dead_letters
    assert (letter.service, letter.reason, letter.attempts) == (
        "conversation",
        "turn_attempts_exhausted",
        3,
    )
    last = [r for r in after.replies if r.to == user][-1]
    assert last.in_reply_to == (later["MessageSid"],)
    assert last.body.startswith("Echo #")
    assert last.body.endswith(": and now a short one")
