"""The fake OpenAI's fault queue, driven over HTTP and observed through the real `openai` SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import openai
import pytest

from chatbot_devstack.embedded import RunningSandbox
from chatbot_sandbox.openai.api import LOCKED_MESSAGE, QUOTA_MESSAGE
from chatbot_sandbox.openai.records import FaultSpec

MODEL = "gpt-test"
SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]
Connect = Callable[..., openai.AsyncOpenAI]


async def test_faults_are_queued_listed_taken_in_order_and_cleared(
    sandbox: RunningSandbox, http: httpx.AsyncClient, connect: Connect
) -> None:
    queued = await http.post(
        "/_sandbox/openai/faults",
        json=[{"kind": "server_error", "count": 2}, {"kind": "rate_limit", "retry_after": 1}],
    )
    assert queued.status_code == 200, queued.text
    assert [(f["kind"], f["count"]) for f in queued.json()] == [
        ("server_error", 2),
        ("rate_limit", 1),
    ]
    async with connect(sandbox) as client:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await client.responses.create(model=MODEL, input="hi")
        listed = sandbox.store.openai_faults
        assert [(f.kind, f.count, f.endpoint) for f in listed] == [("rate_limit", 1, "model")]
        listed.clear()
        assert (await client.responses.create(model=MODEL, input="hi")).output_text == (
            "Echo #1: hi"
        )
    statuses = [r.status_code for r in sandbox.store.openai_requests.snapshot()]
    assert statuses == [500, 500, 200]


async def test_each_error_kind_answers_like_openai(
    sandbox: RunningSandbox, http: httpx.AsyncClient, connect: Connect
) -> None:
    await http.post(
        "/_sandbox/openai/faults",
        json=[
            {"kind": "rate_limit", "retry_after": 1.5},
            {"kind": "insufficient_quota"},
            {"kind": "server_error"},
            {"kind": "conversation_locked"},
        ],
    )
    async with connect(sandbox) as client:
        with pytest.raises(openai.RateLimitError) as limited:
            await client.responses.create(model=MODEL, input="hi")
        with pytest.raises(openai.RateLimitError) as quota:
            await client.responses.create(model=MODEL, input="hi")
        with pytest.raises(openai.InternalServerError) as server:
            await client.responses.create(model=MODEL, input="hi")
        with pytest.raises(openai.BadRequestError) as locked:
            await client.responses.create(model=MODEL, input="hi")

    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "2"
    assert limited.value.response.headers["retry-after-ms"] == "1500"
    assert (quota.value.code, quota.value.type) == ("insufficient_quota", "insufficient_quota")
    assert quota.value.body == {
        "message": QUOTA_MESSAGE,
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
    assert "retry-after" not in quota.value.response.headers
    assert (server.value.status_code, server.value.type) == (500, "server_error")
    assert locked.value.code == "conversation_locked"
    assert locked.value.message.endswith(LOCKED_MESSAGE)


async def test_a_stall_longer_than_the_client_timeout_is_a_timeout(
    sandbox: RunningSandbox, http: httpx.AsyncClient, connect: Connect
) -> None:
    await http.post("/_sandbox/openai/faults", json={"kind": "stall", "seconds": 2.0})
    async with connect(sandbox, timeout=0.2) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.responses.create(model=MODEL, input="slow")
        # The fault was used up: the next request is answered (with room for a busy machine).
        patient = client.with_options(timeout=10.0)
        assert (await patient.responses.create(model=MODEL, input="fast")).output_text == (
            "Echo #1: fast"
        )


async def test_a_fault_hits_only_the_endpoint_it_names(
    sandbox: RunningSandbox, http: httpx.AsyncClient, connect: Connect
) -> None:
    await http.post(
        "/_sandbox/openai/faults",
        json=[{"kind": "server_error", "endpoint": "chat"}, {"kind": "server_error"}],
    )
    async with connect(sandbox) as client:
        conversation = await client.conversations.create()  # "model" faults skip it
        with pytest.raises(openai.InternalServerError):
            await client.responses.create(model=MODEL, input="a", conversation=conversation.id)
        reply = await client.responses.create(model=MODEL, input="b", conversation=conversation.id)
        assert reply.output_text == "Echo #1: b"
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "c"}]
            )
        await http.post(
            "/_sandbox/openai/faults", json={"kind": "server_error", "endpoint": "conversations"}
        )
        with pytest.raises(openai.InternalServerError):
            await client.conversations.create()
    assert sandbox.store.openai_faults == []


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "meteor"},
        {"kind": "stall", "seconds": -1},
        {"kind": "rate_limit", "count": 0},
        {"kind": "rate_limit", "endpoint": "everything"},
        {"kind": "rate_limit", "colour": "red"},
        {"kind": "rate_limit", "probability": 0},
        {"kind": "rate_limit", "probability": 1.5},
        {"kind": "rate_limit", "match": ""},
    ],
)
async def test_an_invalid_fault_is_refused(
    http: httpx.AsyncClient, sandbox: RunningSandbox, fault: dict[str, object]
) -> None:
    answer = await http.post("/_sandbox/openai/faults", json=fault)
    assert answer.status_code == 422
    assert sandbox.store.openai_faults == []


async def test_a_stalled_response_is_in_flight_and_keeps_its_conversation_busy(
    sandbox: RunningSandbox, http: httpx.AsyncClient, connect: Connect
) -> None:
    await http.post("/_sandbox/openai/faults", json={"kind": "stall", "seconds": 0.3})
    async with connect(sandbox) as client:
        conversation = await client.conversations.create()
        slow = asyncio.create_task(
            client.responses.create(model=MODEL, input="slow", conversation=conversation.id)
        )
        await sandbox.store.openai_requests.wait_until(
            lambda records: any(r.status_code is None for r in records), timeout=5
        )
        with pytest.raises(openai.BadRequestError) as locked:
            await client.responses.create(model=MODEL, input="fast", conversation=conversation.id)
        assert locked.value.code == "conversation_locked"
        assert (await slow).output_text == "Echo #1: slow"


async def test_a_fault_with_a_match_hits_only_inputs_that_contain_it(
    sandbox: RunningSandbox, http: httpx.AsyncClient, connect: Connect
) -> None:
    await http.post(
        "/_sandbox/openai/faults",
        json={"kind": "insufficient_quota", "match": "#fail", "count": 10},
    )
    async with connect(sandbox) as client:
        assert (await client.responses.create(model=MODEL, input="fine")).output_text == (
            "Echo #1: fine"
        )
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model=MODEL, input="first\nthis one #fail")
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "#fail again"}]
            )
    refused = [r for r in sandbox.store.openai_requests.snapshot() if r.status_code != 200]
    assert [r.input_text for r in refused] == ["first\nthis one #fail", "#fail again"]
    assert [f.count for f in sandbox.store.openai_faults] == [8]


async def outcomes_of_a_storm(
    sandbox: RunningSandbox, connect: Connect, requests: int
) -> list[int | None]:
    """The statuses of ``requests`` responses under a 30 % rate-limit storm (one try each)."""
    sandbox.store.openai_faults.append(
        FaultSpec(kind="rate_limit", probability=0.3, count=1000).queued()
    )
    async with connect(sandbox) as client:
        for _ in range(requests):
            with contextlib.suppress(openai.RateLimitError):
                await client.responses.create(model=MODEL, input="hi")
    return [r.status_code for r in sandbox.store.openai_requests.snapshot()]


async def test_a_storm_hits_a_share_of_requests_the_same_ones_for_the_same_seed(
    start_sandbox: SandboxFactory, connect: Connect
) -> None:
    async with start_sandbox(fault_seed=7) as first, start_sandbox(fault_seed=7) as second:
        statuses = await outcomes_of_a_storm(first, connect, 40)
        assert await outcomes_of_a_storm(second, connect, 40) == statuses
        (storm,) = first.store.openai_faults
    assert 0 < statuses.count(429) < 40
    assert set(statuses) == {200, 429}
    assert storm.count == 1000 - statuses.count(429)  # only hits count
