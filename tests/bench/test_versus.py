"""The arithmetic of versus-seed: Twilio's retry rules and what became of each message."""

from __future__ import annotations

import pytest

from bench.outcomes import (
    KillOutcome,
    answer_counts,
    conversations_by_user,
    errors,
    kill_outcome,
)
from bench.stats import Planned, Reply, account, token
from bench.twilio_caller import Attempt, Calls, Overrides, failure

PLANNED = [Planned(0.0, 0, 0), Planned(0.3, 0, 1), Planned(0.6, 0, 2), Planned(0.1, 1, 3)]
ADDRESS = {0: "whatsapp:+1", 1: "whatsapp:+2"}


def _reply(at: float, to: str, *numbers: int) -> Reply:
    return Reply(at, to, "Echo #1: " + "\n".join(f"Question {token(n)}" for n in numbers))


def test_twilio_defaults_retry_a_refused_connection_once_and_nothing_else() -> None:
    default = Overrides.parse("")
    assert default == Overrides()
    assert (default.read_timeout, default.total_time, default.retries) == (15.0, 15.0, 1)
    assert default.retry("ct", attempt=0, elapsed=0.01)
    assert not default.retry("ct", attempt=1, elapsed=0.02)  # rc=1: one retry
    for outcome in ("rt", 500, 403, "cut", 200):
        assert not default.retry(outcome, attempt=0, elapsed=1.0)


def test_a_fragment_overrides_the_timeouts_the_count_and_the_policy() -> None:
    overrides = Overrides.parse("#rt=5000&rc=2&rp=rt,5xx")
    assert (overrides.read_timeout, overrides.total_time, overrides.retries) == (5.0, 15.0, 2)
    assert overrides.policy == {"rt", "5xx"}
    assert overrides.retry("rt", attempt=0, elapsed=5.0)
    assert overrides.retry(503, attempt=1, elapsed=5.1)
    assert not overrides.retry(503, attempt=2, elapsed=5.2)  # rc=2 retries used
    assert not overrides.retry("rt", attempt=1, elapsed=15.0)  # tt: 15 s for all attempts
    assert not overrides.retry("ct", attempt=0, elapsed=0.1)  # not in the policy
    assert not overrides.retry("cut", attempt=0, elapsed=0.1)  # a partial answer, never
    assert Overrides.parse("rp=all").policy == {"ct", "rt", "4xx", "5xx"}


def test_unknown_overrides_and_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="not a connection override"):
        Overrides.parse("#retries=3")
    with pytest.raises(ValueError, match="not a retry policy"):
        Overrides.parse("#rp=ct,3xx")


def test_failure_kinds() -> None:
    assert [failure(o) for o in (200, 302, 403, 500, "rt", "ct", "cut")] == [
        None, None, "4xx", "5xx", "rt", "ct", "cut",
    ]  # fmt: skip


def test_calls_report_the_last_attempt_the_waits_and_the_timeouts() -> None:
    calls = Calls(
        [0.0, 1.0],
        [
            Attempt(0, 0, 0.0, 5.0, "rt"),
            Attempt(1, 0, 1.001, 3.0, 200),
            Attempt(0, 1, 5.0, 5.1, 500),
        ],
    )
    assert calls.finals() == {0: Attempt(0, 1, 5.0, 5.1, 500), 1: Attempt(1, 0, 1.001, 3.0, 200)}
    assert calls.waits() == pytest.approx([5.0, 1.999, 0.1])
    assert calls.waits(200) == pytest.approx([1.999])
    assert calls.timeouts() == 1
    assert calls.outcomes() == {"rt": 1, "200": 1, "500": 1}
    assert calls.lags() == pytest.approx([0.0, 0.001])


def test_answer_counts_split_once_twice_and_never() -> None:
    replies = [
        _reply(1.0, "whatsapp:+1", 0),
        _reply(1.1, "whatsapp:+2", 3),
        _reply(2.0, "whatsapp:+1", 0),  # a retried webhook's second turn
        _reply(2.5, "whatsapp:+1", 2),  # message 1 never answered
    ]
    assert answer_counts(PLANNED, account(PLANNED, replies, ADDRESS)) == {0: 1, 1: 2, 2: 1}
    coalesced = [_reply(1.0, "whatsapp:+1", 0, 1, 2), _reply(1.1, "whatsapp:+2", 3)]
    assert answer_counts(PLANNED, account(PLANNED, coalesced, ADDRESS)) == {1: 4}


def test_errors_and_conversations_by_user_read_the_model_requests() -> None:
    records = [
        {"endpoint": "conversations.create", "conversation": "conv_a"},
        {"endpoint": "responses.create", "conversation": "conv_a", "input_text": "tok0"},
        {"endpoint": "responses.create", "conversation": "conv_a", "input_text": "tok1",
         "error_code": "conversation_locked"},
        {"endpoint": "responses.create", "conversation": "conv_b", "input_text": "tok2"},
        {"endpoint": "responses.create", "conversation": "conv_c", "input_text": "tok3\ntok99"},
        {"endpoint": "responses.create", "conversation": None, "input_text": "tok3"},
    ]  # fmt: skip
    assert errors(records, "conversation_locked") == 1
    assert conversations_by_user(records, PLANNED) == {0: {"conv_a", "conv_b"}, 1: {"conv_c"}}


def test_kill_outcome_sorts_messages_around_the_kill() -> None:
    planned = [Planned(at, user, number) for number, (at, user) in enumerate(
        [(0.0, 0), (1.0, 1), (2.0, 2), (3.0, 3), (4.5, 4), (5.5, 5), (7.0, 6)]
    )]  # fmt: skip
    answered = {
        0: 100.5,  # answered before the kill: not in flight
        1: 104.0,  # in flight, answered after the restart
        # 2 and 3: in flight, never answered
        5: 106.0,  # sent while down, answered
        6: 109.0,
    }
    outcome = kill_outcome(planned, 100.0, answered, killed=103.5, back=106.0)
    assert outcome == KillOutcome(
        in_flight=3, in_flight_lost=2, while_down=2, while_down_lost=1, after=1, after_lost=0
    )
