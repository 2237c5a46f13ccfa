"""Fixtures: ingress in this process, through its own app factory and lifespan, on real NATS;
helpers for the desks' webhooks: a desk as the tests see it (:class:`Desk`: serving it, signing
and posting its webhooks, its counts), and reading back what they published."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from chatbot_common.contracts import DeskEvent, decode_user_inbound
from chatbot_ingress.app import IngressApp, create_app
from chatbot_ingress.config import IngressSettings

TOKEN = "test-auth-token"
SECRET = "test-user-key-secret"
PUBLIC = "https://bot.example.com"
USER = "0123456789abcdef0123456789abcdef"
SAYS = "Hi, Agent Smith here."
RECEIVED = datetime(2026, 5, 28, 9, tzinfo=UTC)

Factory = Callable[..., Any]


@asynccontextmanager
async def serving(app: IngressApp) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.api.router.lifespan_context(app.api),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as c,
    ):
        yield c


@pytest.fixture
def make_ingress(nats_server: Any) -> Callable[..., Any]:
    """Start ingress (in this process, real NATS) with some settings overridden."""

    def make(**overrides: Any) -> Any:
        values = {
            "nats_url": nats_server.url,
            "user_key_secret": SECRET,
            "twilio_auth_token": TOKEN,
            "public_base_url": PUBLIC,
            "nats_publish_timeout": 1.0,
        }
        settings = IngressSettings(**(values | overrides))
        return serving(create_app(settings))

    return make


@pytest.fixture
async def client(make_ingress: Factory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_ingress() as client:
        yield client


async def stream_messages(nc: NATS, stream: str) -> list[Any]:
    """Every message ``stream`` holds, oldest first (none when there is no such stream)."""
    js = nc.jetstream()
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    return [
        await js.get_msg(stream, seq=seq)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
        if info.state.messages
    ]


async def published(nc: NATS) -> list[tuple[str, str, DeskEvent]]:
    """Each message CHAT_INBOUND holds, a desk event: its subject, Nats-Msg-Id and event."""
    stored = []
    for message in await stream_messages(nc, "CHAT_INBOUND"):
        event = decode_user_inbound(message.data)
        assert isinstance(event, DeskEvent)
        stored.append((message.subject, message.headers["Nats-Msg-Id"], event))
    return stored


def reply_event(desk: str, conversation: str, delivery_id: str, **fields: Any) -> DeskEvent:
    """An agent's reply as a test expects it published: ``SAYS`` by Agent Smith unless ``fields``
    say otherwise, received at ``RECEIVED`` (compare it with :func:`received`)."""
    reply = {"body": SAYS, "agent": "Agent Smith"} | fields
    return desk_event(desk, "agent_message", conversation, delivery_id, **reply)


def handback_event(desk: str, conversation: str, delivery_id: str, **fields: Any) -> DeskEvent:
    """A handback as a test expects it published, received at ``RECEIVED``."""
    return desk_event(desk, "handback", conversation, delivery_id, **fields)


def desk_event(
    desk: str, event: str, conversation: str, delivery_id: str, **fields: Any
) -> DeskEvent:
    return DeskEvent(
        desk=desk,
        event=event,
        conversation=conversation,
        delivery_id=delivery_id,
        received_at=RECEIVED,
        **fields,
    )


def received(event: DeskEvent) -> DeskEvent:
    """``event`` as if received at ``RECEIVED``, as :func:`reply_event` and
    :func:`handback_event` expect it."""
    return event.model_copy(update={"received_at": RECEIVED})


def desk_signature(body: bytes, *, secret: str, skew: float, prefix: str) -> dict[str, str]:
    """The headers that sign ``body`` as a desk does, ``skew`` seconds from now:
    ``<prefix>-Timestamp`` and ``<prefix>-Signature``."""
    timestamp = str(int(time.time() + skew))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {
        f"{prefix}-Timestamp": timestamp,
        f"{prefix}-Signature": "sha256=" + digest.hexdigest(),
    }


async def post_desk(
    client: httpx.AsyncClient, route: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """Post as HTTP carries headers: bytes, Latin-1."""
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
    return await client.post(route, content=body, headers=raw)


@dataclass(frozen=True)
class Sent:
    """A payload posted with headers of its own, set after the desk's (None: left out)."""

    payload: Any
    headers: Mapping[str, str | None]


@dataclass(frozen=True)
class Desk:
    """One desk's webhooks, as the tests every desk passes (test_desk.py) take it: how ingress
    serves it, how it signs and posts, and its own cases of those tests (``pytest.param`` lists,
    their ids prefixed with the desk's name there)."""

    name: str
    """Its route's last part, ``DeskEvent.desk``, its metrics' ``desk`` label."""
    secret_setting: str
    """The ingress setting of its webhook secret (``secret`` in these tests)."""
    secret: str
    prefix: str
    """Of its signature's headers: ``<prefix>-Timestamp`` and ``<prefix>-Signature``."""
    user_field: str
    """Where its webhooks name the user, as ingress's answer names it."""
    message: Callable[[str], Any]
    """An agent's reply saying this, as the desk posts it."""
    headers: Callable[[], dict[str, str]]
    """The headers of a delivery besides the signature (anew for each)."""
    private: tuple[str, ...]
    """What no log may show of a published webhook."""
    published: Sequence[Any]
    """Webhooks it publishes: the payload, and the desk event (:func:`reply_event`,
    :func:`handback_event`)."""
    unknown_users: Sequence[Any]
    """Webhooks that name no user key: the payload."""
    ignored: Sequence[Any]
    """Webhooks that are neither an agent's reply nor a handback: the payload."""
    malformed: Sequence[Any]
    """Webhooks it cannot read: the payload, and what the answer says."""

    @property
    def route(self) -> str:
        return f"/desk/{self.name}"

    def serving(self, make_ingress: Factory, **overrides: Any) -> Any:
        """Ingress with this desk's secret (and ``overrides``)."""
        return make_ingress(**{self.secret_setting: self.secret} | overrides)

    def counted(self, outcome: str) -> float:
        """``chatbot_desk_webhooks_total`` of this desk and ``outcome``."""
        labels = {"desk": self.name, "outcome": outcome}
        return REGISTRY.get_sample_value("chatbot_desk_webhooks_total", labels) or 0.0

    def reply(self, text: str = SAYS) -> Any:
        return self.message(text)

    def signed(
        self, payload: Any, *, secret: str | None = None, skew: float = 0, prefix: str = ""
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a delivery of ``payload`` (or of a :class:`Sent`), signed
        as the desk signs, ``skew`` seconds from now (with another ``secret`` or headers'
        ``prefix`` if given)."""
        sent = payload if isinstance(payload, Sent) else Sent(payload, {})
        body = sent.payload
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} | self.headers()
        key = self.secret if secret is None else secret
        headers |= desk_signature(body, secret=key, skew=skew, prefix=prefix or self.prefix)
        for name, value in sent.headers.items():
            if value is None:
                del headers[name]
            else:
                headers[name] = value
        return body, headers

    async def post(self, client: httpx.AsyncClient, payload: Any, **signing: Any) -> httpx.Response:
        """Post ``payload`` (or a :class:`Sent`) to the desk's route, signed (:meth:`signed`)."""
        return await post_desk(client, self.route, *self.signed(payload, **signing))
