"""The whole system as separate processes, the way `make run` starts it, on free ports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from chatbot_sandbox.stack import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, LocalStack, Ports

USER = "whatsapp:+15550001111"
BUSINESS = "whatsapp:+14155238886"

StackFactory = Callable[..., AbstractContextManager[LocalStack]]


@pytest.fixture
def start_stack(tmp_path: Path) -> StackFactory:
    """Start nats-server, the sandbox and the three services with extra environment."""

    @contextmanager
    def start(**environment: str) -> Iterator[LocalStack]:
        log = (tmp_path / "stack.log").open("a", buffering=1)

        def sink(name: str, line: str) -> None:
            log.write(f"{name:<12}| {line}\n")

        stack = LocalStack(
            ports=Ports.free(),
            run_dir=tmp_path / "run",
            environment={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "INFO", **environment},
            sink=sink,
        )
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
            log.close()

    return start


@pytest.fixture
def stack(start_stack: StackFactory) -> Iterator[LocalStack]:
    """The stack on its local defaults."""
    with start_stack() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15.0) as client:
        yield client


def signed(url: str, form: dict[str, str]) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio would send for this form at this URL."""
    return {"X-Twilio-Signature": RequestValidator(LOCAL_AUTH_TOKEN).compute_signature(url, form)}


def inbound_form(body: str, *, user: str = USER) -> dict[str, str]:
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": LOCAL_ACCOUNT_SID,
        "From": user,
        "To": BUSINESS,
        "Body": body,
        "ProfileName": "Ana",
        "WaId": user.removeprefix("whatsapp:+"),
        "NumMedia": "0",
    }


async def post_webhook(
    http: httpx.AsyncClient, stack: LocalStack, form: dict[str, str]
) -> httpx.Response:
    """POST a Twilio-signed message webhook to ingress."""
    url = f"{stack.url('ingress')}/twilio/messages"
    return await http.post(url, data=form, headers=signed(url, form))


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
