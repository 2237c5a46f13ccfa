"""Turns with tools, end to end inside the service: the real openai SDK against the sandbox's
model, which calls the functions a message names, and the sandbox's example tool endpoints on
loopback (real HTTP), with their faults."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from chatbot_conversation.replies import APOLOGY
from chatbot_conversation.tools import load_tools
from chatbot_sandbox.tools.records import ToolFault

ORDER_1042 = "Order 1042: blue rain jacket, size M, shipped on 2 December, arriving Friday."
ORDER = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def tools_file(tmp_path: Path, chat: Any, **extra: Any) -> Path:
    """A tools file with lookup_order and current_time on the sandbox, plus ``extra``."""
    base = chat.sandbox.base_url
    functions = [
        {"name": "lookup_order", "parameters": ORDER, "url": f"{base}/tools/lookup_order"},
        {"name": "current_time", "url": f"{base}/tools/current_time"},
        *extra.pop("functions", []),
    ]
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump({"functions": functions, **extra}))
    return path


def tool_calls(chat: Any) -> list[Any]:
    return chat.sandbox.store.tool_calls.snapshot()


@pytest.mark.parametrize("backend", ["responses", "chat"])
async def test_a_named_tool_is_called_and_its_output_answers_the_user(
    chat: Any, start_service: Any, tmp_path: Path, backend: str
) -> None:
    ok = metric("chatbot_tool_calls_total", tool="lookup_order", outcome="ok")
    rounds = metric("chatbot_turn_tool_rounds_sum")
    async with start_service(openai_backend=backend, tools_file=tools_file(tmp_path, chat)):
        seq = await chat.send("where is lookup_order 1042")
        replies = await chat.replies(1)
        state = await chat.answered(seq)

    assert replies == [f"Echo #1: where is lookup_order 1042\nlookup_order: {ORDER_1042}"]
    (call,) = tool_calls(chat)
    assert call.tool == "lookup_order"
    assert call.idempotency_key == f"{chat.key()}:{seq}-{seq}:1:0"
    assert call.body == {
        "tool": "lookup_order",
        "arguments": {"order": "1042"},
        "call_id": call.body["call_id"],
        "user": chat.key(),
    }  # no phone number: include_phone is off
    first, second = chat.model_requests()
    assert [tool["function" if backend == "chat" else "type"] for tool in first.tools][:1] in (
        ["function"],
        [{"name": "lookup_order", "description": "", "parameters": ORDER}],
    )
    assert (first.tool_choice, second.tool_choice) == ("auto", "auto")
    if backend == "responses":
        assert second.input == [
            {
                "type": "function_call_output",
                "call_id": call.body["call_id"],
                "output": ORDER_1042,
            }
        ]
    else:  # the calls and their outputs are kept in the stored history
        assert [(turn.role, bool(turn.tool_calls)) for turn in state.history] == [
            ("user", False),
            ("assistant", True),
            ("tool", False),
            ("assistant", False),
        ]
        assert state.history[2].content == ORDER_1042
    assert metric("chatbot_tool_calls_total", tool="lookup_order", outcome="ok") == ok + 1
    assert metric("chatbot_turn_tool_rounds_sum") == rounds + 1


async def test_the_chat_history_with_tool_messages_is_sent_again_next_turn(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    async with start_service(openai_backend="chat", tools_file=tools_file(tmp_path, chat)):
        await chat.send("lookup_order 1042")
        await chat.replies(1)
        await chat.send("thanks")
        assert (await chat.replies(2))[1] == "Echo #2: thanks"
    # The sandbox refuses tool messages that do not follow their call: the history was whole.
    *_, last = chat.model_requests()
    assert [message["role"] for message in last.input] == [
        "system", "user", "assistant", "tool", "assistant", "user",
    ]  # fmt: skip


async def test_calls_of_one_round_run_together_and_keep_their_order(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    chat.sandbox.store.tool_faults.append(ToolFault(tool="lookup_order", delay=0.3))
    async with start_service(tools_file=tools_file(tmp_path, chat)):
        seq = await chat.send("lookup_order 1042 and current_time")
        (reply,) = await chat.replies(1)

    lookup, clock = sorted(tool_calls(chat), key=lambda call: call.idempotency_key)
    assert (lookup.tool, clock.tool) == ("lookup_order", "current_time")
    assert (lookup.idempotency_key, clock.idempotency_key) == (
        f"{chat.key()}:{seq}-{seq}:1:0",
        f"{chat.key()}:{seq}-{seq}:1:1",
    )
    # Both arrived before the slow lookup (0.3 s) answered: they ran together.
    assert abs(clock.received_at - lookup.received_at) < timedelta(seconds=0.25)
    assert [line.split(":")[0] for line in reply.split("\n")[1:]] == [
        "lookup_order",
        "current_time",
    ]


@pytest.mark.parametrize(
    ("fault", "attempts", "outcome", "said"),
    [
        (ToolFault(tool="lookup_order", status=500, times=10), 2, "server_error", "failed"),
        (ToolFault(tool="lookup_order", status=400, times=10), 1, "client_error", "HTTP 400"),
        (ToolFault(tool="lookup_order", delay=3, times=10), 2, "timeout", "timeout"),
    ],
)
async def test_a_failing_tool_gives_the_model_an_error_and_the_user_still_a_reply(
    chat: Any,
    start_service: Any,
    tmp_path: Path,
    fault: ToolFault,
    attempts: int,
    outcome: str,
    said: str,
) -> None:
    before = metric("chatbot_tool_calls_total", tool="lookup_order", outcome=outcome)
    chat.sandbox.store.tool_faults.append(fault)
    functions = [
        {"name": "lookup_order", "parameters": ORDER, "timeout": 0.3, "max_attempts": 2}
        | {"url": f"{chat.sandbox.base_url}/tools/lookup_order"}
    ]
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump({"functions": functions}))
    async with start_service(tools_file=path):
        await chat.send("lookup_order 1042")
        (reply,) = await chat.replies(1)

    first_line, output = reply.split("\n")
    assert first_line == "Echo #1: lookup_order 1042"
    assert output.startswith("lookup_order: ")
    error = json.loads(output.removeprefix("lookup_order: "))["error"]
    assert said in error
    calls = tool_calls(chat)
    assert len(calls) == attempts
    assert {call.idempotency_key for call in calls} == {calls[0].idempotency_key}
    assert metric("chatbot_tool_calls_total", tool="lookup_order", outcome=outcome) == before + 1
    assert await chat.dead_letters() == []


async def test_arguments_that_break_the_schema_never_reach_the_endpoint(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    before = metric("chatbot_tool_calls_total", tool="lookup_order", outcome="invalid_arguments")
    async with start_service(tools_file=tools_file(tmp_path, chat)):
        await chat.send("lookup_order")  # no order number: `order` is required
        (reply,) = await chat.replies(1)

    assert tool_calls(chat) == []
    error = json.loads(reply.split("\n")[1].removeprefix("lookup_order: "))["error"]
    assert error == (
        "the arguments do not match the tool's schema at arguments: 'order' is a required property"
    )
    after = metric("chatbot_tool_calls_total", tool="lookup_order", outcome="invalid_arguments")
    assert after == before + 1


@pytest.mark.parametrize("backend", ["responses", "chat"])
async def test_a_model_that_never_stops_calling_tools_is_stopped_at_max_rounds(
    chat: Any, start_service: Any, tmp_path: Path, backend: str
) -> None:
    path = tools_file(tmp_path, chat, max_rounds=3)
    async with start_service(openai_backend=backend, tools_file=path):
        seq = await chat.send("lookup_order 1042 repeatedly")
        (reply,) = await chat.replies(1)
        state = await chat.answered(seq)

    requests = chat.model_requests()
    assert [request.tool_choice for request in requests] == ["auto", "auto", "none"]
    assert [call.idempotency_key.rsplit(":", 2)[1] for call in tool_calls(chat)] == ["1", "2"]
    assert reply.startswith("Echo #1: lookup_order 1042 repeatedly\nlookup_order: Order 1042")
    assert state.tokens > 0


async def test_hosted_tools_are_sent_exactly_as_configured(
    chat: Any, start_service: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_MCP_AUTH", "Bearer crm-secret")
    hosted = [
        {"type": "web_search"},
        {"type": "file_search", "vector_store_ids": ["vs_abc"], "max_num_results": 5},
        {"type": "mcp", "server_label": "crm", "server_url": "https://mcp.example/mcp"}
        | {"allowed_tools": ["find_customer"], "require_approval": "never"}
        | {"headers_from_env": {"Authorization": "CRM_MCP_AUTH"}},
    ]
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump({"hosted": hosted}))
    async with start_service(tools_file=path):
        await chat.send("hello")
        await chat.replies(1)

    (request,) = chat.model_requests()
    # What the catalogue makes of each entry (pinned in test_catalog), its secret read from env.
    assert request.tools == [tool.request_param() for tool in load_tools(path).hosted]
    assert request.tools[2]["headers"] == {"Authorization": "Bearer crm-secret"}


async def test_the_phone_number_is_sent_only_to_a_tool_that_asks_for_it(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    base = chat.sandbox.base_url
    path = tools_file(
        tmp_path,
        chat,
        functions=[{"name": "callback", "url": f"{base}/tools/callback", "include_phone": True}],
    )
    async with start_service(tools_file=path):
        await chat.send("callback and current_time")
        await chat.replies(1)

    bodies = {call.tool: call.body for call in tool_calls(chat)}
    assert bodies["callback"]["phone"] == chat.USER
    assert "phone" not in bodies["current_time"]


async def test_kill_9_mid_loop_runs_the_turn_again_with_the_same_keys_and_one_reply(
    chat: Any, service_process: Any, tmp_path: Path
) -> None:
    # The first call is slow: the service is killed while it waits for it.
    chat.sandbox.store.tool_faults.append(ToolFault(tool="lookup_order", delay=2))
    process = service_process(
        INBOUND_ACK_WAIT="2",
        LEASE_TTL="1",
        OPENAI_BACKOFF_INITIAL="0.2",
        TOOLS_FILE=str(tools_file(tmp_path, chat)),
    )
    process.start()
    try:
        await process.ready(30)
        seq = await chat.send("lookup_order 1042")
        await chat.sandbox.store.tool_calls.wait_for(1, timeout=10)
        await process.kill()
        process = process.respawn()
        process.start()
        await process.ready(30)
        replies = await chat.replies(1, timeout=20)
        await chat.answered(seq)
    finally:
        await process.stop(10)

    assert replies == [f"Echo #1: lookup_order 1042\nlookup_order: {ORDER_1042}"]
    first, again = tool_calls(chat)
    assert first.idempotency_key == again.idempotency_key == f"{chat.key()}:{seq}-{seq}:1:0"
    assert first.body["call_id"] != again.body["call_id"]  # the model's ids change on a re-run
    # The re-run answered the call the killed run left open before asking again.
    rerun = [r for r in chat.model_requests() if r.status_code == 200][1]
    assert rerun.input[0] == {
        "type": "function_call_output",
        "call_id": first.body["call_id"],
        "output": json.dumps({"error": "interrupted; the turn is being answered again"}),
    }
    assert await chat.dead_letters() == []


async def test_a_tool_slower_than_the_lease_keeps_it_and_answers_once(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    chat.sandbox.store.tool_faults.append(ToolFault(tool="lookup_order", delay=2.5))
    async with start_service(
        tools_file=tools_file(tmp_path, chat), lease_ttl=1.0, inbound_ack_wait=2.0
    ):
        seq = await chat.send("lookup_order 1042")
        replies = await chat.replies(1, timeout=15)
        await chat.answered(seq)

    assert replies == [f"Echo #1: lookup_order 1042\nlookup_order: {ORDER_1042}"]
    assert len(tool_calls(chat)) == 1  # no other turn took the user over meanwhile
    assert len(chat.texts()) == 1
    assert await chat.dead_letters() == []


async def test_the_turn_deadline_cuts_a_slow_round_and_makes_the_next_call_the_last(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    chat.sandbox.store.tool_faults.append(ToolFault(tool="lookup_order", delay=3))
    async with start_service(tools_file=tools_file(tmp_path, chat, turn_deadline=0.5)):
        await chat.send("lookup_order 1042 repeatedly")
        (reply,) = await chat.replies(1)

    assert [request.tool_choice for request in chat.model_requests()] == ["auto", "none"]
    error = json.loads(reply.split("\n")[1].removeprefix("lookup_order: "))["error"]
    assert error == "the turn ran out of time before this call finished"


async def test_each_call_has_a_gen_ai_span_without_arguments_or_output(
    chat: Any, start_service: Any, tmp_path: Path, spans: Any
) -> None:
    async with start_service(tools_file=tools_file(tmp_path, chat)):
        await chat.send("lookup_order 1042")
        await chat.replies(1)

    (span,) = [s for s in spans.get_finished_spans() if s.name == "execute_tool lookup_order"]
    (call,) = tool_calls(chat)
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_order",
        "gen_ai.tool.call.id": call.body["call_id"],
        "gen_ai.tool.type": "function",
        "chatbot.tool.round": 1,
    }
    (turn,) = [s for s in spans.get_finished_spans() if s.name == "conversation turn"]
    assert span.parent is not None
    assert span.parent.span_id == turn.context.span_id  # a step of the turn


async def test_a_turn_that_failed_between_a_call_and_its_output_does_not_block_the_next(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    # The call is slow enough to queue a model failure for the request that gives its output.
    chat.sandbox.store.tool_faults.append(ToolFault(tool="lookup_order", delay=0.5))
    async with start_service(tools_file=tools_file(tmp_path, chat), openai_max_attempts=2):
        await chat.send("hello")  # the user's Conversation exists before the failing turn
        await chat.replies(1)
        await chat.send("lookup_order 1042")
        await chat.sandbox.store.tool_calls.wait_for(1, timeout=10)
        chat.fault("server_error", count=2)
        await chat.replies(2)
        seq = await chat.send("hello again")
        replies = await chat.replies(3)
        await chat.answered(seq)

    assert replies[1:] == [APOLOGY, "Echo #2: hello again"]
    *_, refused, answered = chat.model_requests()
    assert refused.error_code is None  # "No tool output found for function call ..."
    assert refused.status_code == 400
    (open_call,) = [call.body["call_id"] for call in tool_calls(chat)]
    assert answered.input[0] == {
        "type": "function_call_output",
        "call_id": open_call,
        "output": json.dumps({"error": "interrupted; the turn is being answered again"}),
    }


@pytest.mark.parametrize("backend", ["responses", "chat"])
async def test_a_server_that_ignores_tool_choice_none_is_stopped_at_max_rounds(
    chat: Any, start_service: Any, tmp_path: Path, backend: str
) -> None:
    path = tools_file(tmp_path, chat, max_rounds=3)
    async with start_service(openai_backend=backend, tools_file=path):
        await chat.send("lookup_order 1042 repeatedly stubbornly")
        (reply,) = await chat.replies(1)

    assert [request.tool_choice for request in chat.model_requests()] == ["auto", "auto", "none"]
    assert len(tool_calls(chat)) == 2  # the third answer's calls are not run
    assert reply == APOLOGY  # it gave no text: the turn's one reply is still sent


async def test_a_call_that_raises_inside_the_service_still_gets_the_user_a_reply(
    chat: Any, start_service: Any, tmp_path: Path
) -> None:
    broken = {"type": "object", "properties": {"order": {"$ref": "#/$defs/missing"}}}
    functions = [{"name": "lookup_order", "parameters": broken, "url": "http://127.0.0.1:9/x"}]
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump({"functions": functions}))
    before = metric("chatbot_tool_calls_total", tool="lookup_order", outcome="internal_error")
    async with start_service(tools_file=path):
        await chat.send("lookup_order 1042")
        (reply,) = await chat.replies(1)

    assert reply.endswith('lookup_order: {"error": "the call failed in the service"}')
    after = metric("chatbot_tool_calls_total", tool="lookup_order", outcome="internal_error")
    assert after == before + 1
