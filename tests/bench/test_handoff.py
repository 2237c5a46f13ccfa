"""The arithmetic of the handoff benchmark: which message is whose, and what was lost or doubled."""

from __future__ import annotations

import pytest

from bench.handoff import HANDOFF_MESSAGE, Step, at_twilio, reply_text
from bench.stats import Reply
from chatbot_devstack import user_number


def test_a_step_is_timed_from_its_start_to_the_first_copy_and_counts_each_copy() -> None:
    step = Step(began={0: 10.0, 1: 10.5, 2: 11.0}, seen={0: [10.02], 1: [10.53, 10.9]})
    assert step.timed(origin=10.0) == [(0.0, pytest.approx(0.02)), (0.5, pytest.approx(0.03))]
    assert step.latency().count == 2
    assert step.latency().max == pytest.approx(30.0)
    assert step.tally(3) == {"once": 1, "lost": 1, "duplicated": 1}


def test_twilio_messages_count_for_the_user_they_went_to_with_the_expected_text() -> None:
    replies = [
        Reply(1.0, user_number(0), reply_text(0)),
        Reply(1.1, user_number(1), reply_text(0)),  # another user's text: not theirs
        Reply(1.2, user_number(1), HANDOFF_MESSAGE),  # another step's message
        Reply(1.3, user_number(0), reply_text(0)),  # sent twice
    ]
    step = Step()
    assert at_twilio(replies, step, reply_text, users=2) == 1
    assert step.seen == {0: [1.0, 1.3]}
    assert step.tally(2) == {"once": 0, "lost": 1, "duplicated": 1}
