"""One WhatsApp message end to end, with every part a separate process as in `make run`.

A webhook signed like Twilio's goes to ingress; the reply must reach the sandbox's Twilio API
exactly once, from the business number to the user, with the model's answer as its body.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from chatbot_sandbox.stack import LOCAL_AUTH_TOKEN, LocalStack, Ports

pytestmark = pytest.mark.e2e

USER = "whatsapp:+15550001111"
BUSINESS = "whatsapp:+14155238886"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """nats-server, the sandbox and the three services on free ports."""
    log = (tmp_path / "stack.log").open("a", buffering=1)

    def sink(name: str, line: str) -> None:
        log.write(f"{name:<12}| {line}\n")

    stack = LocalStack(
        ports=Ports.free(),
        run_dir=tmp_path / "run",
        environment={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "INFO"},
        sink=sink,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        log.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15.0) as client:
        yield client


def signed(url: str, form: dict[str, str]) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio would send for this form at this URL."""
    return {"X-Twilio-Signature": RequestValidator(LOCAL_AUTH_TOKEN).compute_signature(url, form)}


def inbound_form(body: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC00000000000000000000000000000000",
        "From": USER,
        "To": BUSINESS,
        "Body": body,
        "ProfileName": "Ana",
        "WaId": "15550001111",
        "NumMedia": "0",
    }


async def sent_messages(
    http: httpx.AsyncClient, stack: LocalStack, *, at_least: int
) -> list[dict[str, Any]]:
    """The Messages creates the sandbox's Twilio accepted, waiting up to 10 s for enough."""
    answer = await http.get(
        f"{stack.url('sandbox')}/_sandbox/twilio/messages",
        params={"min_count": at_least, "timeout": 10},
    )
    answer.raise_for_status()
    messages: list[dict[str, Any]] = answer.json()
    return messages


async def test_signed_webhook_is_answered_exactly_once(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    url = f"{stack.url('ingress')}/twilio/messages"
    form = inbound_form("hello there")

    first = await http.post(url, data=form, headers=signed(url, form))
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/xml")
    assert "<Response/>" in first.text

    # Twilio retries a webhook it thinks failed: same MessageSid, no second reply.
    retry = await http.post(url, data=form, headers=signed(url, form))
    assert retry.status_code == 200

    (reply,) = await sent_messages(http, stack, at_least=1)
    assert reply["body"] == "Echo #1: hello there"

    # The user answers: one more reply, in the same conversation (the responder counts turns).
    follow_up = inbound_form("and again")
    assert (await http.post(url, data=follow_up, headers=signed(url, follow_up))).status_code == 200
    messages = await sent_messages(http, stack, at_least=2)
    assert [message["body"] for message in messages] == [
        "Echo #1: hello there",
        "Echo #2: and again",
    ]
    assert all(message["to"] == USER for message in messages)
    assert all(message["from"] == BUSINESS for message in messages)
    metrics = (await http.get(f"{stack.url('ingress')}/metrics")).text
    assert 'chatbot_webhook_duplicates_total{route="/twilio/messages"} 1.0' in metrics


async def test_unsigned_webhook_is_refused_and_nothing_is_sent(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    url = f"{stack.url('ingress')}/twilio/messages"
    form = inbound_form("forged")
    answer = await http.post(url, data=form, headers={"X-Twilio-Signature": "bm90IGl0"})
    assert answer.status_code == 403
    # A signed message afterwards is the only one answered.
    real = inbound_form("real")
    assert (await http.post(url, data=real, headers=signed(url, real))).status_code == 200
    messages = await sent_messages(http, stack, at_least=1)
    assert [message["body"] for message in messages] == ["Echo #1: real"]
