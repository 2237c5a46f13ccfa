"""Fixtures: the conversation service in-process (its own app factory and lifespan), a real
nats-server, and an in-process sandbox its OpenAI SDK talks HTTP to. A :class:`Chat` plays
ingress and reads CHAT_OUTBOUND through an ordered consumer, so JetStream's deduplication is part
of what the tests see; waits are on events (outbound messages, KV updates of a user's state).
Attachments go to the sandbox's fake Twilio, and the service downloads them (TWILIO_API_BASE_URL).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from chatbot_common.bus import publish
from chatbot_common.contracts import (
    DeadLetter,
    DeskEvent,
    InboundMessage,
    Media,
    OutboundMessage,
    decode,
    utcnow,
)
from chatbot_common.topology import CONVERSATIONS_BUCKET, DLQ, INBOUND, OUTBOUND, provision
from chatbot_common.userkey import user_key
from chatbot_conversation.app import create_app
from chatbot_conversation.config import ConversationSettings
from chatbot_conversation.state import ConversationState, StateStore
from chatbot_devstack import ACCOUNT_SID as ACCOUNT
from chatbot_devstack import BUSINESS_NUMBER as BUSINESS
from chatbot_devstack import ManagedProcess, ProcessSpec, find_executable, free_port
from chatbot_devstack import user_number as phone
from chatbot_devstack.embedded import RunningSandbox, running_sandbox
from chatbot_sandbox.openai.records import FaultSpec, OpenAIRequestRecord
from chatbot_sandbox.process import SandboxSettings

SECRET = "conversation-test-secret"
MODEL = "gpt-test"
DUPLICATE_WINDOW = 7200.0

ServiceFactory = Callable[..., AbstractAsyncContextManager[None]]


def _asks_model(record: OpenAIRequestRecord) -> bool:
    return record.endpoint in ("responses.create", "chat.completions.create")


ALICE = phone(1)
BOB = phone(2)


def key_of(user: str) -> str:
    return user_key(SECRET, BUSINESS, user)


class Chat:
    """Plays ingress and the sender's view of CHAT_OUTBOUND, and drives the responder."""

    USER = ALICE
    OTHER = BOB
    BUSINESS = BUSINESS

    def __init__(
        self, nc: NATS, js: JetStreamContext, kv: KeyValue, sandbox: RunningSandbox
    ) -> None:
        self.nc = nc
        self.js = js
        self.kv = kv
        self.sandbox = sandbox
        self.outbound: list[OutboundMessage] = []
        self.sids: dict[int, str] = {}
        self._changed = asyncio.Event()

    async def on_outbound(self, msg: Msg) -> None:
        self.outbound.append(decode(OutboundMessage, msg.data))
        self._changed.set()

    async def send(self, body: str, user: str = ALICE, media: Sequence[Media] = ()) -> int:
        """Publish an inbound message as ingress would; its stream sequence."""
        sid = "SM" + uuid.uuid4().hex
        message = InboundMessage(
            message_sid=sid,
            account_sid=ACCOUNT,
            from_=user,
            to=BUSINESS,
            body=body,
            media=tuple(media),
            received_at=utcnow(),
        )
        ack = await publish(self.js, INBOUND.subject(key_of(user)), message, msg_id=sid, timeout=5)
        self.sids[ack.seq] = sid
        return ack.seq

    async def desk_event(self, delivery_id: str, user: str = ALICE, **fields: Any) -> int:
        """Publish a desk's event as ingress would; its stream sequence (0: a duplicate)."""
        event = DeskEvent(delivery_id=delivery_id, received_at=utcnow(), **fields)
        subject = INBOUND.subject(key_of(user))
        ack = await publish(self.js, subject, event, msg_id=delivery_id, timeout=5)
        return 0 if ack.duplicate else ack.seq

    @staticmethod
    def key(user: str = ALICE) -> str:
        return key_of(user)

    async def upload(self, data: bytes, content_type: str, *, cdn_base: str | None = None) -> Media:
        """Keep a file in the sandbox's Twilio, as a user's attachment; what ingress announces."""
        params = {"cdn_base": cdn_base} if cdn_base else {}
        async with httpx.AsyncClient(base_url=self.sandbox.base_url, timeout=5) as client:
            answer = await client.post(
                "/_sandbox/twilio/media",
                content=data,
                headers={"Content-Type": content_type},
                params=params,
            )
        answer.raise_for_status()
        kept = answer.json()
        return Media(url=kept["url"], content_type=kept["content_type"])

    def transcriptions(self) -> list[OpenAIRequestRecord]:
        """The responder's transcription records, oldest first."""
        return [
            r
            for r in self.sandbox.store.openai_requests.snapshot()
            if r.endpoint == "audio.transcriptions.create"
        ]

    def fault(self, kind: str, **spec: Any) -> None:
        """Queue a responder fault (see chatbot_sandbox.openai)."""
        self.sandbox.store.openai_faults.append(FaultSpec(kind=kind, **spec).queued())

    def model_requests(self) -> list[OpenAIRequestRecord]:
        """The responder's `responses.create` and chat completion records, oldest first."""
        return [r for r in self.sandbox.store.openai_requests.snapshot() if _asks_model(r)]

    async def model_request_in_flight(self) -> None:
        """Return once a model request is being answered."""
        await self.sandbox.store.openai_requests.wait_until(
            lambda records: any(_asks_model(r) and r.status_code is None for r in records),
            timeout=10,
        )

    def texts(self, user: str = ALICE) -> list[OutboundMessage]:
        return [m for m in self.outbound if m.kind == "text" and m.to == user]

    async def replies(self, count: int, user: str = ALICE, timeout: float = 10) -> list[str]:
        """The bodies of the user's text replies once there are ``count`` of them."""
        async with asyncio.timeout(timeout):
            while len(self.texts(user)) < count:
                self._changed.clear()
                await self._changed.wait()
        return [m.body for m in self.texts(user)]

    async def state(self, user: str = ALICE) -> ConversationState:
        return (await StateStore(self.kv).load(key_of(user))).state

    async def answered(self, seq: int, user: str = ALICE, timeout: float = 10) -> ConversationState:
        """The user's state once ``seq`` is committed as answered and the lease is free."""
        watcher = await self.kv.watch(key_of(user))
        try:
            async with asyncio.timeout(timeout):
                while True:
                    state = await self.state(user)
                    if state.last_seq >= seq and state.lease is None:
                        return state
                    await watcher.updates(timeout=timeout)
        finally:
            await watcher.stop()

    async def dead_letters(self) -> list[DeadLetter]:
        info = await self.js.stream_info(DLQ.name)
        letters = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            raw = await self.js.get_msg(DLQ.name, seq=seq)
            letters.append(decode(DeadLetter, raw.data or b""))
        return letters


@pytest.fixture
async def chat(nc: NATS, sandbox: RunningSandbox) -> AsyncIterator[Chat]:
    js = nc.jetstream()
    await provision(
        js,
        streams=(INBOUND, OUTBOUND, DLQ),
        buckets=(CONVERSATIONS_BUCKET,),
        duplicate_window=DUPLICATE_WINDOW,
    )
    chat = Chat(nc, js, await js.key_value(CONVERSATIONS_BUCKET.name), sandbox)
    subscription = await js.subscribe(
        f"{OUTBOUND.prefix}.>", cb=chat.on_outbound, ordered_consumer=True
    )
    try:
        yield chat
    finally:
        await subscription.unsubscribe()


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A responder with no latency of its own: tests that need a slow answer queue a stall."""
    settings = SandboxSettings.model_validate(
        {
            "host": "127.0.0.1",
            "port": 0,
            "openai_api_key": "",
            "openai_latency": 0.0,
            "openai_models": {MODEL: None},
        }
    )
    async with running_sandbox(settings) as running:
        yield running


def service_settings(
    sandbox: RunningSandbox, nats_url: str, **overrides: Any
) -> ConversationSettings:
    """Settings for a test: fast retries, no coalescing unless a test asks for it."""
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "user_key_secret": SECRET,
        "openai_api_key": "sk-test",
        "openai_base_url": sandbox.openai_base_url,
        "twilio_account_sid": sandbox.settings.twilio_account_sid,
        "twilio_auth_token": sandbox.settings.twilio_auth_token,
        "twilio_api_base_url": sandbox.twilio_base_url,
        "openai_model": MODEL,
        "openai_instructions": "Answer briefly.",
        "openai_timeout": 5.0,
        "openai_backoff_initial": 0.01,
        "openai_backoff_max": 0.05,
        "coalesce_window": 0.0,
        "lease_ttl": 5.0,
        "drain_timeout": 2.0,
        "nats_duplicate_window": DUPLICATE_WINDOW,
    }
    return ConversationSettings(**(values | overrides))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def start_service(
    nats_server: Any, sandbox: RunningSandbox, spans: InMemorySpanExporter
) -> ServiceFactory:
    """Start a conversation service: ``async with start_service(coalesce_window=1):``."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[None]:
        settings = service_settings(sandbox, nats_server.url, **overrides)
        # Record every span, whatever the sampling decision of the (unrecorded) parent.
        provider = TracerProvider(sampler=ALWAYS_ON)
        provider.add_span_processor(SimpleSpanProcessor(spans))
        app = create_app(settings, tracer_provider=provider)
        async with app.router.lifespan_context(app):
            yield

    return start


@pytest.fixture
def service_process(
    nats_server: Any, sandbox: RunningSandbox, tmp_path: Path
) -> Callable[..., ManagedProcess]:
    """A `chatbot-conversation` process (not started yet), for tests that kill one."""

    def make(**environment: str) -> ManagedProcess:
        port = free_port()
        log = tmp_path / "conversation.log"

        def sink(_: str, line: str) -> None:
            with log.open("a") as output:
                output.write(line + "\n")

        env = {
            "PATH": os.environ.get("PATH", ""),
            "NATS_URL": nats_server.url,
            "NATS_DUPLICATE_WINDOW": str(DUPLICATE_WINDOW),
            "USER_KEY_SECRET": SECRET,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": sandbox.openai_base_url,
            "TWILIO_ACCOUNT_SID": sandbox.settings.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": sandbox.settings.twilio_auth_token.get_secret_value(),
            "TWILIO_API_BASE_URL": sandbox.twilio_base_url,
            "OPENAI_MODEL": MODEL,
            "OPENAI_INSTRUCTIONS": "Answer briefly.",
            "COALESCE_WINDOW": "0",
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        spec = ProcessSpec(
            "conversation",
            [find_executable("chatbot-conversation")],
            env | environment,
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        return ManagedProcess(spec, sink)

    return make
