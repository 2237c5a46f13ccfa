"""A webhook whose client hangs up, or sends its body too slowly, driven at the ASGI level.

A hang-up is counted (``client_disconnected``) and raises nothing for uvicorn to log as an
error; a body that has not all arrived within BODY_READ_TIMEOUT, however steadily it trickles,
is answered 408 and the connection closed (``request_timeout``). Every answer given before the
body was read to its end closes the connection. tests/faults/test_slow_clients.py holds the
same against a real ingress process over sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope

from chatbot_ingress.app import IngressApp, create_app
from chatbot_ingress.config import IngressSettings

MESSAGES = "/twilio/messages"
TIMEOUT = 0.3


def counted(outcome: str) -> float:
    labels = {"route": MESSAGES, "outcome": outcome}
    return REGISTRY.get_sample_value("chatbot_webhook_requests_total", labels) or 0.0


def app(**overrides: Any) -> IngressApp:
    settings = IngressSettings(
        user_key_secret="secret",
        twilio_auth_token="token",
        public_base_url="https://bot.example.com",
        body_read_timeout=TIMEOUT,
        **overrides,
    )
    return create_app(settings)


def webhook(content_type: str = "application/x-www-form-urlencoded", **headers: str) -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": MESSAGES,
        "query_string": b"",
        "scheme": "http",
        "headers": [(b"content-type", content_type.encode())]
        + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


async def call(scope: Scope, receive: Receive, **overrides: Any) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(**overrides)(scope, receive, send)
    return sent


def answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes]]:
    start = sent[0]
    assert start["type"] == "http.response.start"
    return start["status"], dict(start["headers"])


def receiving(*messages: Message) -> Callable[[], Any]:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


async def test_a_hang_up_mid_body_is_counted_and_answered_nothing() -> None:
    before = counted("client_disconnected")
    receive = receiving(
        {"type": "http.request", "body": b"MessageSid=SM1&Bo", "more_body": True},
        {"type": "http.disconnect"},
    )
    sent = await call(webhook(content_length="400"), receive)  # raises nothing
    assert sent == []
    assert counted("client_disconnected") == before + 1


async def test_a_trickled_body_is_answered_408_within_the_bound_and_closed() -> None:
    before = counted("request_timeout")
    received = 0

    async def trickle() -> Message:
        nonlocal received
        await asyncio.sleep(0.02)
        received += 1
        return {"type": "http.request", "body": b"a", "more_body": True}

    started = time.monotonic()
    sent = await asyncio.wait_for(call(webhook(content_length="1000"), trickle), 5)
    took = time.monotonic() - started
    status, headers = answer(sent)
    assert status == 408
    assert headers[b"connection"] == b"close"
    assert TIMEOUT <= took < TIMEOUT + 0.5
    assert received > 3  # it was not idle: the bound is on the whole body, not on a gap
    assert counted("request_timeout") == before + 1


async def test_a_body_in_pieces_within_the_bound_is_read() -> None:
    async def slowly() -> Message:
        await asyncio.sleep(TIMEOUT / 4)
        return {"type": "http.request", "body": b"Body=x", "more_body": False}

    # Read in full: it goes on to the signature check, which it fails.
    status, headers = answer(await call(webhook(), slowly))
    assert status == 403
    assert b"connection" not in headers


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        (webhook(content_length="70000"), 413),
        (webhook("application/json"), 415),
    ],
    ids=["too-large", "wrong-type"],
)
async def test_an_answer_before_the_body_is_read_closes_the_connection(
    scope: Scope, status: int
) -> None:
    receive = receiving({"type": "http.request", "body": b"x" * 10, "more_body": True})
    got, headers = answer(await call(scope, receive))
    assert got == status
    assert headers[b"connection"] == b"close"
