"""The generic webhook desk's events at POST /desk/webhook, against a real nats-server: signed,
read, and published as desk events on the user's subject, once (docs/handoff.md, "The generic
webhook desk").

``WEBHOOK`` describes the desk for the tests every desk passes (test_desk.py), with its own cases
of them: what it publishes, what names no user, what it ignores, what it refuses to read (its
ids, users, texts and media URLs). Here are the tests of what only this desk does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS

from .conftest import (
    SAYS,
    USER,
    Desk,
    Factory,
    handback_event,
    post_desk,
    published,
    reply_event,
)

CHATWOOT_SECRET = "test-chatwoot-webhook-secret"
FILE = "https://desk.example.com/files/cat.png"


def agent_message(**fields: Any) -> dict[str, Any]:
    """An ``agent_message`` event; ``fields`` override or add to it (None: leave one out)."""
    message = {
        "event": "agent_message",
        "id": "m-1",
        "conversation": "c-7",
        "user": USER,
        "text": SAYS,
        "agent": "Agent Smith",
    }
    return {k: v for k, v in (message | fields).items() if v is not None}


def handback(**fields: Any) -> dict[str, Any]:
    """A ``handback`` event; ``fields`` override or add to it (None: leave one out)."""
    event = {"event": "handback", "id": "h-1", "conversation": "c-7", "user": USER}
    return {k: v for k, v in (event | fields).items() if v is not None}


WEBHOOK = Desk(
    name="webhook",
    secret_setting="handoff_webhook_secret",
    secret="test-handoff-webhook-secret",
    prefix="X-Chatbot",
    user_field="user",
    message=lambda text: agent_message(text=text),
    headers=dict,
    private=("test-handoff-webhook-secret",),
    published=[
        pytest.param(
            agent_message(media_urls=[FILE]),
            reply_event(
                "webhook", conversation="c-7", delivery_id="webhook:c-7:m-1", media_urls=(FILE,)
            ),
            id="agent-message",
        ),
        pytest.param(
            handback(),
            handback_event("webhook", conversation="c-7", delivery_id="webhook:c-7:h-1"),
            id="handback",
        ),
    ],
    unknown_users=[
        pytest.param(agent_message(user="+15550001111"), id="a-phone"),
        pytest.param(agent_message(user=USER.upper()), id="upper"),
        pytest.param(agent_message(user=USER + "0"), id="too-long"),
        pytest.param(agent_message(user=""), id="empty"),
        pytest.param(handback(user="someone"), id="handback"),
    ],
    ignored=[
        pytest.param({"event": "handoff.opened", "conversation": "c-7"}, id="ours"),
        pytest.param(agent_message(event="agent_typing"), id="typing"),
        pytest.param({"event": "ping"}, id="ping"),
    ],
    malformed=[
        pytest.param(b"{not json", "body is not JSON", id="not-json"),
        pytest.param([agent_message()], "body is not a JSON object", id="an-array"),
        pytest.param(agent_message(event=None), "event: missing", id="no-event"),
        pytest.param(agent_message(event=1), "event: not a string", id="event-a-number"),
        pytest.param(agent_message(id=None), "id: missing", id="no-id"),
        pytest.param(agent_message(id=True), "id: missing, or not a string", id="id-true"),
        pytest.param(agent_message(id=4.2), "id: missing, or not a string", id="id-a-float"),
        pytest.param(agent_message(id=""), "id: not 1 to 128 printable", id="id-empty"),
        pytest.param(agent_message(id="m 1"), "id: not 1 to 128", id="id-a-space"),
        pytest.param(agent_message(id="m\r\nX: y"), "id: not 1 to 128", id="id-a-newline"),
        pytest.param(agent_message(id="é"), "id: not 1 to 128", id="id-not-ascii"),
        pytest.param(agent_message(id="m" * 129), "id: not 1 to 128", id="id-too-long"),
        pytest.param(agent_message(conversation=None), "conversation: missing", id="no-conv"),
        pytest.param(agent_message(conversation=7), "conversation: not a string", id="conv-7"),
        pytest.param(agent_message(conversation=""), "conversation: not 1 to 128", id="conv-"),
        pytest.param(agent_message(conversation="c 7"), "conversation: not 1", id="conv-space"),
        pytest.param(agent_message(user=None), "user: missing", id="no-user"),
        pytest.param(agent_message(user=7), "user: not a string", id="user-a-number"),
        pytest.param(agent_message(text=5), "text: not a string", id="text-a-number"),
        pytest.param(agent_message(text=None), "text or media_urls", id="no-text-or-media"),
        pytest.param(agent_message(text=" \n"), "text or media_urls", id="blank-text"),
        pytest.param(agent_message(media_urls=FILE), "media_urls: not a list", id="media-a-str"),
        pytest.param(agent_message(media_urls=[7]), "media_urls", id="media-a-number"),
        pytest.param(agent_message(media_urls=["ftp://x.example/a"]), "media_urls", id="ftp"),
        pytest.param(agent_message(media_urls=["cat.png"]), "media_urls", id="relative"),
        pytest.param(agent_message(media_urls=["https://"]), "media_urls", id="no-host"),
        pytest.param(agent_message(media_urls=["http://[x"]), "media_urls", id="bad-ipv6"),
        pytest.param(agent_message(media_urls=["https://a.example/a b"]), "media_urls", id="sp"),
        pytest.param(agent_message(agent=1), "agent: not a string", id="agent-a-number"),
        pytest.param(handback(user=None), "user: missing", id="handback-no-user"),
        pytest.param(handback(id=None), "id: missing", id="handback-no-id"),
        pytest.param(handback(conversation=None), "conversation", id="handback-no-conv"),
    ],
)


@pytest.fixture
async def webhook(make_ingress: Factory) -> AsyncIterator[httpx.AsyncClient]:
    async with WEBHOOK.serving(make_ingress) as client:
        yield client


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(agent_message(id=42), ("webhook:c-7:42", SAYS, ()), id="id"),
        pytest.param(
            agent_message(text=None, agent=None, media_urls=[FILE, "http://x.example/a.ogg"]),
            ("webhook:c-7:m-1", "", (FILE, "http://x.example/a.ogg")),
            id="media-only",
        ),
        pytest.param(
            agent_message(text=" ", media_urls=[FILE]),
            ("webhook:c-7:m-1", " ", (FILE,)),
            id="blank",
        ),
    ],
)
async def test_an_agent_message_takes_a_numeric_id_and_media_alone(
    webhook: httpx.AsyncClient, nc: NATS, payload: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    assert (await WEBHOOK.post(webhook, payload)).status_code == 200
    [(_, msg_id, event)] = await published(nc)
    assert (msg_id, event.body, event.media_urls) == expected


async def test_an_agent_message_without_agent_names_nobody(
    webhook: httpx.AsyncClient, nc: NATS
) -> None:
    assert (await WEBHOOK.post(webhook, agent_message(agent=None))).status_code == 200
    assert (await WEBHOOK.post(webhook, agent_message(id="m-2", agent=""))).status_code == 200
    assert [event.agent for _, _, event in await published(nc)] == [None, None]


async def test_an_id_is_the_events_within_its_conversation_only(
    webhook: httpx.AsyncClient, nc: NATS
) -> None:
    assert (await WEBHOOK.post(webhook, agent_message())).text == "published\n"
    assert (await WEBHOOK.post(webhook, agent_message(conversation="c-8"))).text == "published\n"
    assert [msg_id for _, msg_id, _ in await published(nc)] == [
        "webhook:c-7:m-1",
        "webhook:c-8:m-1",
    ]


async def test_each_desk_has_its_own_route_and_secret(make_ingress: Factory, nc: NATS) -> None:
    async with WEBHOOK.serving(make_ingress) as client:
        chatwoot = await post_desk(client, "/desk/chatwoot", *WEBHOOK.signed(agent_message()))
    assert chatwoot.status_code == 404
    async with WEBHOOK.serving(make_ingress, chatwoot_webhook_secret=CHATWOOT_SECRET) as client:
        wrong = await WEBHOOK.post(client, agent_message(), secret=CHATWOOT_SECRET)
        assert wrong.status_code == 403
        assert (await WEBHOOK.post(client, agent_message())).status_code == 200
    assert len(await published(nc)) == 1
