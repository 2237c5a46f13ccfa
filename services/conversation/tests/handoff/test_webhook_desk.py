"""The generic webhook desk: our signed JSON events to a helpdesk's URL, retried under one
Idempotency-Key, and the desk's events back as turns."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from chatbot_conversation.config import ConversationSettings

from .helpers import HANDED, RETURNED

SECRET = "webhook-desk-secret"


class Helpdesk:
    """A helpdesk's webhook endpoint: it keeps each event, answering from ``statuses``."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []

    async def take(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@asynccontextmanager
async def helpdesk() -> AsyncIterator[Helpdesk]:
    desk = Helpdesk()
    app = web.Application()
    app.router.add_post("/events", desk.take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    desk.url = f"http://127.0.0.1:{port}/events"
    try:
        yield desk
    finally:
        await runner.cleanup()


def webhook_settings(desk: Helpdesk) -> dict[str, Any]:
    return {
        "handoff_desk": "webhook",
        "handoff_webhook_url": desk.url,
        "handoff_webhook_secret": SECRET,
        "openai_backoff_initial": 0.01,
    }


async def test_the_desk_gets_signed_events_and_its_events_come_back_as_turns(
    chat: Any, start_service: Any
) -> None:
    async with helpdesk() as desk, start_service(**webhook_settings(desk)):
        desk.statuses = [200, 503, 200]  # the message's first post fails: it is posted again
        await chat.answered(await chat.send("person"))
        await chat.answered(await chat.send("my parcel is late"))
        opened, first, again = desk.events()
        conversation = opened["conversation"]
        reply = {"event": "agent_message", "body": "On its way.", "agent": "Ann"}
        at = {"desk": "webhook", "conversation": conversation}
        sent = await chat.desk_event("webhook:1", **at, **reply)
        await chat.answered(sent)
        back = await chat.desk_event("webhook:2", **at, event="handback")
        await chat.answered(back)

    assert opened["event"] == "handoff.opened"
    assert opened["user"] == chat.key()
    assert opened["contact"] == {
        "name": "WhatsApp user",
        "phone": chat.USER.removeprefix("whatsapp:"),
        "wa_id": chat.USER.removeprefix("whatsapp:+"),
    }
    assert opened["note"].startswith("The user asked for a person.")
    assert first == again
    assert (first["event"], first["text"], first["attachments"]) == (
        "message",
        "my parcel is late",
        [],
    )
    keys = [headers["Idempotency-Key"] for headers, _ in desk.received]
    assert keys == [f"{conversation}:opened", *[f"{conversation}:{first['message_id']}"] * 2]
    for headers, body in desk.received:
        timestamp = headers["X-Chatbot-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        assert headers["X-Chatbot-Signature"] == f"sha256={expected.hexdigest()}"
    assert [m.body for m in chat.texts()] == [HANDED, "On its way.", RETURNED]


async def test_a_handoff_the_idle_timer_ends_is_closed_at_the_desk(
    chat: Any, start_service: Any
) -> None:
    async with helpdesk() as desk:
        settings = webhook_settings(desk) | {
            "handoff_idle_timeout": 0.3,
            "handoff_check_interval": 0.1,
        }
        async with start_service(**settings):
            await chat.answered(await chat.send("person"))
            assert await chat.replies(2) == [HANDED, RETURNED]

    opened, closed = desk.events()
    assert closed == {
        "event": "handoff.closed",
        "conversation": opened["conversation"],
        "note": "Handed back to the bot: no reply from our team for a while.",
    }


async def test_a_desk_that_refuses_dead_letters_the_message(chat: Any, start_service: Any) -> None:
    async with helpdesk() as desk, start_service(**webhook_settings(desk)):
        desk.statuses = [200, 422]
        await chat.answered(await chat.send("person"))
        await chat.answered(await chat.send("hello?"))

    (letter,) = await chat.dead_letters()
    assert (letter.reason, letter.error_code) == ("desk_unavailable", "forward")
    assert len(desk.received) == 2  # a refusal is not retried


def test_a_webhook_desk_needs_its_url_and_secret() -> None:
    with pytest.raises(ValueError, match="needs HANDOFF_WEBHOOK_URL and HANDOFF_WEBHOOK_SECRET"):
        ConversationSettings(
            openai_api_key="k",
            user_key_secret="s",
            handoff_desk="webhook",
            handoff_webhook_url="https://desk.example.com/events",
            handoff_webhook_secret="",
        )
