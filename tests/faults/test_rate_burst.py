"""A burst over the per-user rate limit: what is within the limit is answered, the rest told once.

200 messages in under a second coalesce into one batch far over ``USER_RATE_LIMIT`` (20 a
minute). The limit counts messages, not turns: the first 20 are answered (the model is asked
about those only), the user is told once that the rest were not read, and nothing else of the
burst reaches the model or the dead-letter stream.
"""

from __future__ import annotations

import pytest

from chatbot_conversation.replies import APOLOGY
from chatbot_devstack import inbound_form, user_number

from .conftest import SystemFactory

pytestmark = pytest.mark.e2e

BURST = 200
LIMIT = 20  # USER_RATE_LIMIT's default


async def test_a_burst_over_the_rate_limit_answers_what_is_within_it_and_says_so_once(
    start_system: SystemFactory,
) -> None:
    user = user_number(5)
    async with start_system(COALESCE_WINDOW="2") as system:
        forms = [inbound_form(f"b{i}", user=user) for i in range(BURST)]
        for form in forms:
            await system.deliver(form)
        await system.settle()
        outcome = await system.outcome()
        asked = [
            r["input_text"]
            for r in await system.sandbox_records("openai/requests")
            if r["endpoint"] == "responses.create"
        ]

    replies = [reply for reply in outcome.replies if reply.to == user]
    sids = [form["MessageSid"] for form in forms]
    assert [sid for reply in replies for sid in reply.in_reply_to] == sids
    echoed = [
        line
        for reply in replies
        for paragraph in reply.body.split("\n\n")
        if paragraph.startswith("Echo #")
        for line in paragraph.partition(": ")[2].split("\n")
    ]
    assert echoed == [f"b{i}" for i in range(LIMIT)]
    assert [line for text in asked for line in text.split("\n")] == echoed
    told = [reply.body for reply in replies if "faster than I can answer" in reply.body]
    assert len(told) == 1, told
    assert not [reply for reply in replies if reply.body == APOLOGY]
    assert not outcome.dead_letters
