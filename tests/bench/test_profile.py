"""Reading py-spy's collapsed stacks into where a service's CPU went."""

from __future__ import annotations

from bench.profile import summarize

MAIN = "main (chatbot_ingress/main.py:10)"
HANDLE = "handle (chatbot_ingress/app.py:{line})"
STACKS = [
    f"{MAIN};{HANDLE.format(line=40)};dumps (json/encoder.py:9) 6",
    f"{MAIN};{HANDLE.format(line=41)};publish (nats/aio/client.py:7) 3",
    f"{MAIN};run (asyncio/runners.py:118) 1",
    "",
]


def test_self_time_by_function_and_file_and_own_code_inclusive() -> None:
    summary = summarize(STACKS)
    assert summary["samples"] == 10
    assert summary["self_by_function"][:2] == [
        ("dumps (json/encoder.py)", 60.0),
        ("publish (nats/aio/client.py)", 30.0),
    ]
    assert ("asyncio/runners.py", 10.0) in summary["self_by_file"]
    assert summary["own_code_inclusive"] == [
        ("main (chatbot_ingress/main.py)", 100.0),
        ("handle (chatbot_ingress/app.py)", 90.0),
    ]


def test_no_samples() -> None:
    assert summarize([]) == {"samples": 0}
