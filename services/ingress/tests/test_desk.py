"""The desks' webhooks at POST /desk/<desk>, against a real nats-server: signed, read, and
published once as desk events on the user's subject. The tests every desk passes run for each
desk in ``DESKS`` (its :class:`~.conftest.Desk`): Chatwoot's here, the webhook desk's in
test_desk_webhook.py; last, Chatwoot's own, with payloads built and signed as the sandbox's fake
Chatwoot 4.15.1 does (``chatbot_sandbox.chatwoot``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS

from .conftest import (
    SAYS,
    USER,
    Desk,
    Factory,
    Sent,
    handback_event,
    post_desk,
    published,
    received,
    reply_event,
)
from .test_desk_webhook import WEBHOOK

DESK_SECRET = "test-chatwoot-webhook-secret"
PHONE = "+15550001111"
AGENT = {"id": 1, "name": "Agent Smith", "email": "agent@sandbox.example", "type": "user"}
INTEGRATION = {"id": 2, "name": "Chatbot Integration", "type": "user"}
BOT = {"id": 1, "name": "Sandbox Bot", "type": "agent_bot"}
CONTACT = {"id": 1, "name": "Ann", "phone_number": PHONE, "identifier": USER}
FILE = "https://desk.example.com/rails/active_storage/blobs/redirect/t0k3n/cat.png"
DELIVERY = "6f1c2b7e-8d4a-4f0e-9c3b-2a5d7e9f1b40"
NO_DELIVERY = {"X-Chatwoot-Delivery": None}


def conversation(*, status: str = "open", attributes: Any = None) -> dict[str, Any]:
    """A conversation's webhook data, as the fake's ``_conversation_data``."""
    return {
        "meta": {"sender": CONTACT | {"type": "contact"}, "assignee": None},
        "id": 7,
        "messages": [],
        "inbox_id": 1,
        "status": status,
        "custom_attributes": {"chatbot_user": USER} if attributes is None else attributes,
        "additional_attributes": {},
        "labels": [],
        "unread_count": 1,
        "created_at": 1_780_000_000,
        "timestamp": 1_780_000_100,
        "last_activity_at": 1_780_000_100,
        "channel": "Channel::Api",
        "can_reply": True,
        "contact_inbox": {
            "id": 1,
            "contact_id": 1,
            "inbox_id": 1,
            "source_id": PHONE.removeprefix("+"),
            "hmac_verified": False,
        },
        "snoozed_until": None,
        "account": {"id": 1, "name": "Sandbox"},
    }


def message_created(
    *,
    message_id: int = 42,
    content: str | None = SAYS,
    message_type: str = "outgoing",
    private: bool = False,
    sender: dict[str, Any] | None = AGENT,
    files: tuple[str, ...] = (),
    attributes: Any = None,
) -> dict[str, Any]:
    """A ``message_created`` body, as the fake's ``views.message_created``."""
    data: dict[str, Any] = {
        "event": "message_created",
        "id": message_id,
        "content": content,
        "message_type": message_type,
        "content_type": "text",
        "content_attributes": {},
        "additional_attributes": {},
        "private": private,
        "source_id": None,
        "created_at": "2026-05-28T09:00:00.000Z",
        "sender": sender,
        "inbox": {"id": 1, "name": "Sandbox WhatsApp"},
        "account": {"id": 1, "name": "Sandbox"},
        "conversation": conversation(attributes=attributes),
    }
    if files:
        data["attachments"] = [
            {"id": n, "message_id": message_id, "file_type": "image", "data_url": url}
            for n, url in enumerate(files, 1)
        ]
    return data


def status_changed(status: str, *, attributes: Any = None) -> dict[str, Any]:
    """A ``conversation_status_changed`` body, as the fake's ``views.status_changed``."""
    return conversation(status=status, attributes=attributes) | {
        "event": "conversation_status_changed",
        "changed_attributes": None,
    }


CHATWOOT = Desk(
    name="chatwoot",
    secret_setting="chatwoot_webhook_secret",
    secret=DESK_SECRET,
    prefix="X-Chatwoot",
    user_field="custom_attributes.chatbot_user",
    message=lambda text: message_created(content=text),
    headers=lambda: {"X-Chatwoot-Delivery": str(uuid.uuid4())},
    private=(PHONE, DESK_SECRET),
    published=[
        pytest.param(
            message_created(files=(FILE,)),
            reply_event(
                "chatwoot", conversation="7", delivery_id="chatwoot:message:42", media_urls=(FILE,)
            ),
            id="agent-reply",
        ),
        *(
            pytest.param(
                Sent(status_changed(status), {"X-Chatwoot-Delivery": DELIVERY}),
                handback_event(
                    "chatwoot", conversation="7", delivery_id=f"chatwoot:{DELIVERY}", status=status
                ),
                id=f"handback-{status}-by-its-delivery-id",
            )
            for status in ("resolved", "pending")
        ),
    ],
    unknown_users=[
        pytest.param(message_created(attributes={}), id="no-chatbot-user"),
        pytest.param(message_created(attributes=None) | {"conversation": {"id": 7}}, id="none"),
        pytest.param(message_created(attributes={"chatbot_user": "+15550001111"}), id="a-phone"),
        pytest.param(message_created(attributes={"chatbot_user": USER.upper()}), id="upper"),
        pytest.param(message_created(attributes={"chatbot_user": USER + "0"}), id="too-long"),
        pytest.param(message_created(attributes={"chatbot_user": 7}), id="a-number"),
        pytest.param(status_changed("resolved", attributes={}), id="handback"),
    ],
    ignored=[
        pytest.param(message_created(message_type="incoming", sender=CONTACT), id="incoming"),
        pytest.param(message_created(private=True), id="private-note"),
        pytest.param(message_created(private=True, sender=INTEGRATION), id="our-note"),
        pytest.param(message_created(sender=BOT), id="agent-bot"),
        pytest.param(message_created(sender=None), id="no-sender"),
        pytest.param(message_created(message_type="template"), id="template"),
        pytest.param(status_changed("open"), id="reopened"),
        pytest.param(status_changed("snoozed"), id="snoozed"),
        pytest.param(status_changed("resolved") | {"event": "conversation_updated"}, id="updated"),
        pytest.param({"event": "contact_created", "id": 1}, id="contact"),
    ],
    malformed=[
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(b"\xff\xfe{}", "not JSON", id="not-utf8"),
        pytest.param([message_created()], "not a JSON object", id="an-array"),
        pytest.param({"id": 42}, "event", id="no-event"),
        pytest.param(message_created() | {"message_type": 1}, "message_type", id="type-int"),
        pytest.param(message_created() | {"private": None}, "private", id="private-null"),
        pytest.param(message_created() | {"id": "42"}, "id", id="id-a-string"),
        pytest.param(message_created() | {"id": True}, "id", id="id-true"),
        pytest.param(message_created() | {"conversation": None}, "conversation", id="conv"),
        pytest.param(message_created() | {"conversation": {}}, "conversation.id", id="conv-id"),
        pytest.param(message_created(content=" "), "body or media", id="empty-reply"),
        pytest.param(message_created() | {"content": 5}, "content", id="content-number"),
        pytest.param(message_created() | {"attachments": "x"}, "attachments", id="files"),
        pytest.param(status_changed("resolved") | {"id": None}, "id", id="handback-id"),
        pytest.param(status_changed("resolved") | {"status": 3}, "status", id="status"),
        pytest.param(
            Sent(status_changed("resolved"), {"X-Chatwoot-Delivery": "a b\r\nX: y"}),
            "Delivery",
            id="delivery",
        ),
        pytest.param(
            Sent(
                {k: v for k, v in status_changed("resolved").items() if k != "timestamp"},
                NO_DELIVERY,
            ),
            "updated_at or timestamp",
            id="handback-unnamed",
        ),
    ],
)
DESKS = (CHATWOOT, WEBHOOK)

over_desks = pytest.mark.parametrize("desk", [pytest.param(d, id=d.name) for d in DESKS])


def per_desk(cases: Callable[[Desk], Sequence[Any]]) -> list[Any]:
    """Each desk's own cases of a test (a field of :class:`Desk`): the desk, then the case's
    values; ids ``<desk>-<case>``."""
    return [
        pytest.param(desk, *case.values, id=f"{desk.name}-{case.id}", marks=case.marks)
        for desk in DESKS
        for case in cases(desk)
    ]


@pytest.fixture
async def served(make_ingress: Factory, desk: Desk) -> AsyncIterator[httpx.AsyncClient]:
    """Ingress taking the test's desk's webhooks."""
    async with desk.serving(make_ingress) as client:
        yield client


@pytest.fixture
async def chatwoot(make_ingress: Factory) -> AsyncIterator[httpx.AsyncClient]:
    async with CHATWOOT.serving(make_ingress) as client:
        yield client


async def dropped(
    desk: Desk,
    client: httpx.AsyncClient,
    nc: NATS,
    delivery: tuple[bytes, dict[str, str]],
    *,
    outcome: str,
) -> httpx.Response:
    """Post a delivery (body, headers) that ingress must not publish: ingress's answer, once
    checked that nothing was published and the webhook counted once as ``outcome``."""
    before = desk.counted(outcome)
    answer = await post_desk(client, desk.route, *delivery)
    assert await published(nc) == []
    assert desk.counted(outcome) == before + 1
    return answer


# What every desk does.


@pytest.mark.parametrize(("desk", "payload", "expected"), per_desk(lambda d: d.published))
async def test_an_agent_reply_or_a_handback_is_published_on_the_users_subject(
    served: httpx.AsyncClient,
    nc: NATS,
    caplog: pytest.LogCaptureFixture,
    desk: Desk,
    payload: Any,
    expected: Any,
) -> None:
    before = desk.counted("published")
    with caplog.at_level(logging.DEBUG):
        answer = await desk.post(served, payload)
    assert (answer.status_code, answer.text) == (200, "published\n")
    [(subject, msg_id, event)] = await published(nc)
    assert (subject, msg_id) == (f"chat.inbound.{USER}", expected.delivery_id)
    assert received(event) == expected
    assert desk.counted("published") == before + 1
    assert not [private for private in desk.private if private in caplog.text]


@pytest.mark.parametrize("skew", [-290, 290])
@over_desks
async def test_a_delivery_within_five_minutes_of_now_is_taken(
    served: httpx.AsyncClient, desk: Desk, skew: float
) -> None:
    assert (await desk.post(served, desk.reply(), skew=skew)).status_code == 200


@over_desks
async def test_the_same_webhook_delivered_twice_is_one_stream_message(
    served: httpx.AsyncClient, nc: NATS, desk: Desk
) -> None:
    before = desk.counted("duplicate")
    first = await desk.post(served, desk.reply())
    again = await desk.post(served, desk.reply(), skew=-5)  # another timestamp (and delivery id)
    assert (first.text, again.status_code, again.text) == ("published\n", 200, "duplicate\n")
    assert len(await published(nc)) == 1
    assert desk.counted("duplicate") == before + 1


@pytest.mark.parametrize(
    ("forgery", "says"),
    [
        pytest.param({"secret": "another-secret"}, "invalid {prefix}-Signature", id="wrong"),
        pytest.param({"skew": -310}, "{prefix}-Timestamp is more than 300 s", id="stale"),
        pytest.param({"skew": 310}, "{prefix}-Timestamp is more than 300 s", id="from-the-future"),
        pytest.param(
            {"Timestamp": None, "Signature": None}, "missing {prefix}-Timestamp", id="unsigned"
        ),
        pytest.param({"another_desks": True}, "missing {prefix}-Timestamp", id="another-desks"),
        pytest.param({"tampered": True}, "invalid {prefix}-Signature", id="tampered"),
        pytest.param(
            {"Timestamp": "1e9"}, "{prefix}-Timestamp is not unix seconds", id="timestamp-1e9"
        ),
        pytest.param(
            {"Timestamp": "-5"}, "{prefix}-Timestamp is not unix seconds", id="timestamp-negative"
        ),
        pytest.param({"Signature": "sha256=é"}, "invalid {prefix}-Signature", id="not-ascii"),
        pytest.param(
            {"Signature": "deadbeef"}, "invalid {prefix}-Signature", id="no-sha256-prefix"
        ),
    ],
)
@over_desks
async def test_an_unauthenticated_webhook_is_refused_and_nothing_published(
    served: httpx.AsyncClient, nc: NATS, desk: Desk, forgery: dict[str, Any], says: str
) -> None:
    """``forgery``: the signing's ``secret`` or ``skew``; ``Timestamp``, ``Signature``: that
    header's value instead (None: left out); ``another_desks``: another desk's headers;
    ``tampered``: the body changed after it was signed."""
    signing = dict(forgery)
    tampered = signing.pop("tampered", False)
    if signing.pop("another_desks", False):
        signing["prefix"] = next(other.prefix for other in DESKS if other is not desk)
    parts = [part for part in ("Timestamp", "Signature") if part in signing]
    headers = {f"{desk.prefix}-{part}": signing.pop(part) for part in parts}
    body, sent = desk.signed(Sent(desk.reply(), headers), **signing)
    if tampered:
        body = body.replace(SAYS.encode(), SAYS.upper().encode())
    answer = await dropped(desk, served, nc, (body, sent), outcome="unauthenticated")
    assert answer.status_code == 403
    assert says.format(prefix=desk.prefix) in answer.text


@pytest.mark.parametrize(("desk", "payload"), per_desk(lambda d: d.unknown_users))
async def test_a_webhook_that_names_no_user_key_is_counted_and_dropped(
    served: httpx.AsyncClient, nc: NATS, desk: Desk, payload: Any
) -> None:
    answer = await dropped(desk, served, nc, desk.signed(payload), outcome="unknown_conversation")
    assert (answer.status_code, answer.text) == (
        200,
        f"unknown conversation: {desk.user_field} is not a user key\n",
    )


@pytest.mark.parametrize(("desk", "payload"), per_desk(lambda d: d.ignored))
async def test_other_events_are_ignored(
    served: httpx.AsyncClient, nc: NATS, desk: Desk, payload: Any
) -> None:
    answer = await dropped(desk, served, nc, desk.signed(payload), outcome="ignored")
    assert (answer.status_code, answer.text) == (200, "ignored: no agent reply or handback\n")


@pytest.mark.parametrize(("desk", "payload", "says"), per_desk(lambda d: d.malformed))
async def test_a_malformed_webhook_gets_a_clear_error_and_publishes_nothing(
    served: httpx.AsyncClient, nc: NATS, desk: Desk, payload: Any, says: str
) -> None:
    answer = await dropped(desk, served, nc, desk.signed(payload), outcome="malformed")
    assert answer.status_code == 400
    assert says in answer.text


@over_desks
async def test_an_oversized_body_is_refused_as_the_twilio_routes_do(
    make_ingress: Factory, nc: NATS, desk: Desk
) -> None:
    async with desk.serving(make_ingress, max_body_bytes=1000) as client:
        oversized = desk.signed(desk.reply("x" * 1000))
        answer = await dropped(desk, client, nc, oversized, outcome="malformed")
    assert (answer.status_code, answer.headers["connection"]) == (413, "close")


@over_desks
async def test_nats_down_means_503_for_the_desk_to_retry(
    served: httpx.AsyncClient, nats_server: Any, desk: Desk
) -> None:
    before = desk.counted("unavailable")
    await nats_server.stop()
    answer = await desk.post(served, desk.reply())
    assert answer.status_code == 503
    assert "retry" in answer.text
    assert desk.counted("unavailable") == before + 1


@pytest.mark.parametrize("another", [False, True], ids=["no-desk", "another-desk"])
@over_desks
async def test_without_its_secret_a_desk_has_no_route(
    make_ingress: Factory, nc: NATS, desk: Desk, another: bool
) -> None:
    others = {d.secret_setting: d.secret for d in DESKS if another and d is not desk}
    async with make_ingress(**others) as client:
        answer = await desk.post(client, desk.reply(), secret="")
        assert answer.status_code == 404
        assert (await client.get(desk.route)).status_code == 404
    assert await published(nc) == []


@over_desks
async def test_the_route_takes_only_post(served: httpx.AsyncClient, desk: Desk) -> None:
    assert (await served.get(desk.route)).status_code == 405


# What only Chatwoot does.


async def test_a_reply_with_only_an_attachment_is_published(
    chatwoot: httpx.AsyncClient, nc: NATS
) -> None:
    payload = message_created(content=None, files=(FILE,))
    assert (await CHATWOOT.post(chatwoot, payload)).status_code == 200
    [(_, _, event)] = await published(nc)
    assert (event.body, event.media_urls) == ("", (FILE,))


async def test_a_handback_without_a_delivery_id_is_named_by_its_change(
    chatwoot: httpx.AsyncClient, nc: NATS
) -> None:
    resolved = status_changed("resolved")
    await CHATWOOT.post(chatwoot, Sent(resolved, NO_DELIVERY))
    await CHATWOOT.post(chatwoot, Sent(resolved | {"updated_at": 1_780_000_200.5}, NO_DELIVERY))
    await CHATWOOT.post(chatwoot, Sent(resolved, NO_DELIVERY))  # the first again
    assert [msg_id for _, msg_id, _ in await published(nc)] == [
        "chatwoot:status:7:resolved:1780000100",
        "chatwoot:status:7:resolved:1780000200.5",
    ]
