"""Fixtures: a sandbox standing in for Twilio, the sender pointed at it, and ways to watch both.

The sender runs as it does in production (its app's lifespan: NATS connection, provisioning,
consumer loop, the real twilio SDK over HTTP) against a real nats-server and an in-process
sandbox. Tests wait on events (sandbox records, NATS messages), never on sleeps.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import REGISTRY

from chatbot_common.bus import publish
from chatbot_common.contracts import OutboundMessage
from chatbot_common.topology import DELIVERIES_BUCKET, OUTBOUND
from chatbot_devstack import BUSINESS_NUMBER as BUSINESS
from chatbot_devstack.embedded import RunningSandbox, running_sandbox
from chatbot_sandbox.process import SandboxSettings
from chatbot_sender.app import DURABLE, create_app
from chatbot_sender.config import SenderSettings

ACCOUNT_SID = "AC" + "5e" * 16
AUTH_TOKEN = "sender-test-token"
USER_KEY_SECRET = "sender-test-user-key-secret"


@dataclass
class Verdicts:
    """The acks, naks and progress reports the sender publishes for CHAT_OUTBOUND messages.

    They are ordinary NATS publishes to the messages' reply subjects, so a plain subscription
    sees them: tests wait for an ack instead of guessing when a message was finished.
    """

    subscription: Subscription
    seen: list[bytes] = field(default_factory=list)

    async def acked(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` more messages were acked (an ack's payload is empty or +ACK)."""
        await self._until((b"", b"+ACK"), count, timeout)

    async def in_progress(self, timeout: float = 10.0) -> None:
        """Wait until the sender reports progress on a message (+WPI: it is about to send)."""
        await self._until((b"+WPI",), 1, timeout)

    async def _until(self, verdicts: tuple[bytes, ...], count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while count:
                message: Msg = await self.subscription.next_msg(timeout=timeout)
                self.seen.append(message.data)
                if message.data in verdicts:
                    count -= 1


@dataclass
class Harness:
    """A sandbox standing in for Twilio, a real NATS, and what tests do with them."""

    nc: NATS
    js: JetStreamContext
    sandbox: RunningSandbox
    nats_url: str
    verdicts: Verdicts
    business: str = BUSINESS
    auth_token: str = AUTH_TOKEN

    @staticmethod
    def user(number: int) -> str:
        """A distinct WhatsApp user address."""
        return f"whatsapp:+1555{number:07d}"

    @staticmethod
    def inbound_sid() -> str:
        """A Twilio message SID like the one of an inbound WhatsApp message."""
        return "SM" + uuid.uuid4().hex

    @staticmethod
    def metric(name: str, **labels: str) -> float:
        """The current value of a sample (0 when it has never been set)."""
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def environment(self, **overrides: str) -> dict[str, str]:
        """The sender's settings as a process environment (for tests that run it as one)."""
        values = {
            "NATS_URL": self.nats_url,
            "USER_KEY_SECRET": USER_KEY_SECRET,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": self.sandbox.twilio_base_url,
            "TWILIO_WHATSAPP_FROM": BUSINESS,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "INFO",
        }
        return {"PATH": os.environ.get("PATH", "")} | values | overrides

    def settings(self, **overrides: object) -> SenderSettings:
        """Settings that point at this NATS and sandbox and ignore the environment's."""
        values: dict[str, object] = {
            "nats_url": self.nats_url,
            "nats_connect_timeout": 5.0,
            "nats_publish_timeout": 2.0,
            "drain_timeout": 2.0,
            "user_key_secret": USER_KEY_SECRET,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_base_url": self.sandbox.twilio_base_url,
            "twilio_whatsapp_from": BUSINESS,
            "twilio_messaging_service_sid": None,
            "public_base_url": None,
            "twilio_timeout": 2.0,
            "max_concurrent_sends": 50,
            "send_rate_per_second": 1000.0,
            "send_rate_burst": 100,
            "send_rate_max_wait": 2.0,
            "send_typing_indicator": True,
            "send_media": True,
            "send_ack_wait": 10.0,
        }
        return SenderSettings.model_validate(values | overrides)

    @asynccontextmanager
    async def sender(self, **overrides: object) -> AsyncIterator[None]:
        """The sender app's lifespan (connected, provisioned, consuming) for the block."""
        app = create_app(self.settings(**overrides))
        async with app.router.lifespan_context(app):
            yield

    def outbound(self, to: str, body: str = "hello", **fields: Any) -> OutboundMessage:
        """A text reply to ``to`` with a fresh idempotency key (fields override)."""
        values: dict[str, Any] = {
            "kind": "text",
            "to": to,
            "from": BUSINESS,
            "body": body,
            "in_reply_to": (self.inbound_sid(),),
            "idempotency_key": f"k{uuid.uuid4().hex[:12]}.1",
        }
        return OutboundMessage.model_validate(values | fields)

    async def publish(
        self, message: OutboundMessage, headers: dict[str, str] | None = None
    ) -> None:
        """Publish ``message`` on CHAT_OUTBOUND as the conversation service does."""
        await publish(
            self.js,
            OUTBOUND.subject(message.idempotency_key.split(".")[0]),
            message,
            msg_id=message.idempotency_key,
            timeout=5,
            headers=headers,
        )

    async def deliveries(self) -> KeyValue:
        """The CHAT_DELIVERIES bucket (provisioned by the sender)."""
        return await self.js.key_value(DELIVERIES_BUCKET.name)


HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def harness(nc: NATS, nats_server: Any) -> HarnessFactory:
    """``async with harness(**sandbox_settings) as h:`` a sandbox, NATS and helpers."""

    @asynccontextmanager
    async def start(**sandbox_overrides: object) -> AsyncIterator[Harness]:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": 0,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_latency": 0.0,
            "status_callbacks": False,
        }
        settings = SandboxSettings.model_validate(values | sandbox_overrides)
        subscription = await nc.subscribe(f"$JS.ACK.{OUTBOUND.name}.{DURABLE}.>")
        try:
            async with running_sandbox(settings) as sandbox:
                yield Harness(
                    nc=nc,
                    js=nc.jetstream(),
                    sandbox=sandbox,
                    nats_url=nats_server.url,
                    verdicts=Verdicts(subscription),
                )
        finally:
            await subscription.unsubscribe()

    return start
