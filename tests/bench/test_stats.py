"""The arithmetic behind every number `make bench` prints."""

from __future__ import annotations

import math

import pytest

from bench import stats


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert stats.percentile(values, 0.5) == 50
    assert stats.percentile(values, 0.99) == 99
    assert stats.percentile(values, 0.999) == 100
    assert stats.percentile(values, 1.0) == 100
    assert stats.percentile([7.0], 0.99) == 7


def test_percentile_of_nothing_is_nan_and_fraction_is_checked() -> None:
    assert math.isnan(stats.percentile([], 0.5))
    with pytest.raises(ValueError, match="fraction"):
        stats.percentile([1.0], 0)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = stats.Latency.of([0.001 * v for v in range(1, 101)])
    assert (summary.count, summary.p50, summary.p99, summary.max) == (100, 50, 99, 100)
    assert summary.mean == 50.5
    assert math.isnan(stats.Latency.of([]).p99)


def test_constant_rate_spacing_and_count() -> None:
    offsets = stats.constant_rate(200, 2.5)
    assert len(offsets) == 500
    assert offsets[:3] == [0.0, 0.005, 0.01]
    with pytest.raises(ValueError, match="positive"):
        stats.constant_rate(0, 1)


def test_round_robin_takes_turns_over_users() -> None:
    planned = stats.round_robin([0.0, 0.1, 0.2, 0.3, 0.4], users=2)
    assert [(m.user, m.number) for m in planned] == [(0, 0), (1, 1), (0, 2), (1, 3), (0, 4)]


def test_bursts_space_each_users_messages_and_number_them_in_time_order() -> None:
    planned = stats.bursts(users=3, per_user=5, gap=0.1, spread=0.3)
    assert len(planned) == 15
    assert [m.number for m in planned] == list(range(15))
    assert [m.at for m in planned] == sorted(m.at for m in planned)
    user_1 = [m.at for m in planned if m.user == 1]
    assert user_1 == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_tokens_round_trip_through_an_echo() -> None:
    assert stats.tokens_in(
        f"Echo #3: Question {stats.token(12)}\nQuestion {stats.token(7)}: x"
    ) == [12, 7]
    assert stats.tokens_in("a stoken12 tok12x") == []


PLANNED = [
    stats.Planned(0.0, 0, 0),
    stats.Planned(0.1, 1, 1),
    stats.Planned(0.2, 0, 2),
    stats.Planned(0.3, 1, 3),
]
ADDRESS = {0: "whatsapp:+1", 1: "whatsapp:+2"}


def _reply(at: float, to: str, *numbers: int) -> stats.Reply:
    return stats.Reply(
        at, to, "Echo #1: " + "\n".join(f"Question {stats.token(n)}" for n in numbers)
    )


def test_accounting_of_a_clean_run_with_a_coalesced_turn() -> None:
    replies = [
        _reply(1.0, "whatsapp:+1", 0, 2),
        _reply(1.1, "whatsapp:+2", 1),
        _reply(1.2, "whatsapp:+2", 3),
    ]
    result = stats.account(PLANNED, replies, ADDRESS)
    assert result.clean
    assert result.turns == 3
    assert result.answered == {0: 1.0, 2: 1.0, 1: 1.1, 3: 1.2}


def test_accounting_counts_lost_duplicate_unmatched_and_misdirected() -> None:
    replies = [
        _reply(1.0, "whatsapp:+1", 0),
        _reply(1.5, "whatsapp:+1", 0),  # duplicate
        _reply(1.6, "whatsapp:+1", 1),  # user 1's message sent to user 0
        stats.Reply(1.7, "whatsapp:+2", "You are sending messages too fast."),
    ]
    result = stats.account(PLANNED, replies, ADDRESS)
    assert result.lost == [2, 3]
    assert result.duplicates == [0]
    assert [copy.at for copy in result.copies[0]] == [1.0, 1.5]
    assert result.answered[0] == 1.0  # the first reply counts for latency
    assert (result.unmatched, result.misdirected) == (1, 1)
    assert not result.clean


def test_order_violations_are_per_user_and_by_arrival_time() -> None:
    replies = [
        _reply(2.0, "whatsapp:+1", 0),  # arrives after message 2's reply
        _reply(1.0, "whatsapp:+1", 2),
        _reply(1.5, "whatsapp:+2", 1),  # the other user is in order
        _reply(1.6, "whatsapp:+2", 3),
    ]
    assert stats.account(PLANNED, replies, ADDRESS).order_violations == 1
    in_one_turn_backwards = [_reply(1.0, "whatsapp:+1", 2, 0)]
    assert stats.account(PLANNED, in_one_turn_backwards, ADDRESS).order_violations == 1


def test_order_is_judged_against_the_order_ingress_accepted() -> None:
    accepted = [2, 0, 1, 3]  # message 2 overtook message 0 on the way in
    replies = [_reply(1.0, "whatsapp:+1", 2, 0), _reply(1.1, "whatsapp:+2", 1, 3)]
    assert stats.account(PLANNED, replies, ADDRESS, accepted).order_violations == 0
    assert stats.overtaken(PLANNED, accepted) == 1
    assert stats.overtaken(PLANNED, [0, 1, 2, 3]) == 0


def _search(capacity: float) -> list[float]:
    results: list[tuple[float, bool]] = []
    while (rate := stats.next_rate(results, start=500, growth=1.5, resolution=0.08)) is not None:
        results.append((rate, rate <= capacity))
        assert len(results) < 20
    return [rate for rate, _ in results]


def test_capacity_search_grows_then_bisects_to_the_resolution() -> None:
    rates = _search(capacity=2000)
    assert rates[:4] == [500, 750, 1120, 1680]
    best = max(rate for rate in rates if rate <= 2000)
    lowest_miss = min(rate for rate in rates if rate > 2000)
    assert best <= 2000 < lowest_miss
    assert lowest_miss - best <= 0.08 * best


def test_capacity_search_steps_down_when_the_first_rate_misses() -> None:
    rates = _search(capacity=100)
    assert rates[0] == 500
    assert rates[1] < 500
    assert any(rate <= 100 for rate in rates)


def test_growth_ignores_the_warm_up_and_sees_a_leak() -> None:
    times = [float(t) for t in range(0, 600, 5)]
    warm_then_flat = [50.0 if t < 60 else 80.0 for t in times]
    assert stats.growth(times, warm_then_flat) == pytest.approx(0, abs=1e-9)
    leaking = [80 + t / 60 for t in times]  # 1 MiB a minute
    assert stats.growth(times, leaking) == pytest.approx((595 - 119) / 60, rel=0.01)  # after 20%


def test_per_second_buckets() -> None:
    assert stats.per_second([10.2, 10.9, 11.0, 13.5], start=10.0) == [2, 1, 0, 1]
    assert stats.per_second([], start=0.0) == []


def test_checks_pass_on_the_right_side_of_their_limit() -> None:
    assert stats.Check("p99", 49.9, 50).met
    assert not stats.Check("p99", 50, 50).met
    assert stats.Check("rate", 2000, 2000, rule=">=").met
    assert stats.Check("lost", 0, 0, rule="==").met
    assert not stats.Check("p99", math.nan, 50).met
    assert str(stats.Check("lost", 2, 0, rule="==")) == "lost: 2 (target == 0) MISSED"
