"""Reading one gauge out of a Prometheus page without parsing all of it."""

from __future__ import annotations

from bench.system import gauge

PAGE = """# HELP chatbot_turns_in_flight Turns this process is working on.
# TYPE chatbot_turns_in_flight gauge
chatbot_turns_in_flight 3.0
chatbot_consumer_in_flight_messages{consumer="a"} 7.0
chatbot_consumer_in_flight_messages{consumer="b"} 1.0
chatbot_consumer_in_flight_messages_total 9.0
"""


def test_unlabelled_and_summed_over_labels() -> None:
    assert gauge(PAGE, "chatbot_turns_in_flight") == 3
    assert gauge(PAGE, "chatbot_consumer_in_flight_messages") == 8


def test_missing_metric() -> None:
    assert gauge(PAGE, "chatbot_nothing") is None
