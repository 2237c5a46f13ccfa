"""The chat page's endpoints: signed webhooks out, the transcript and its live event stream.

A bare HTTP server stands in for ingress and checks each webhook's signature with the twilio
SDK's RequestValidator, as ingress does. Replies are made the way the sender makes them: the
real `twilio` SDK creating a message (with a StatusCallback) and a typing indicator on the
sandbox, so the stream shows what the page would show.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from chatbot_devstack import free_port
from chatbot_devstack.embedded import RunningSandbox, twilio_client
from chatbot_devstack.receiver import FormReceiver, receiving
from chatbot_sandbox.chat.hub import END, MAX_MESSAGES, ChatHub, ChatMessage
from chatbot_sandbox.chat.terminal import earlier_note
from chatbot_sandbox.chat.wire import (
    EVENTS_PATH,
    MESSAGES_PATH,
    ServerSentEvent,
    encode_event,
    normalise_number,
    read_events,
    read_path,
)
from chatbot_sandbox.process import SandboxSettings, SandboxStore

USER = "+15550001111"
PUBLIC_BASE_URL = "https://chatbot.example.test"
"""What ingress checks signatures against; deliberately not where the webhook is posted."""

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]


@dataclass
class FakeIngress(FormReceiver):
    """Checks webhook signatures as ingress does, and answers a chosen status."""

    status: int = 200
    auth_token: str = ""

    def answer(self, path: str, headers: dict[str, str], form: dict[str, str]) -> int:
        if path != "/twilio/messages":
            return 200
        signature = headers.get("x-twilio-signature", "")
        valid = RequestValidator(self.auth_token).validate(PUBLIC_BASE_URL + path, form, signature)
        return self.status if valid else 403

    async def next_webhook(self) -> dict[str, str]:
        """The form of the next webhook posted to /twilio/messages."""
        async with asyncio.timeout(10):
            while True:
                path, _, form = await self.posts.get()
                if path == "/twilio/messages":
                    return form


@pytest.fixture
async def ingress() -> AsyncIterator[FakeIngress]:
    async with receiving(FakeIngress()) as running:
        yield running


@pytest.fixture
async def chat_sandbox(
    start_sandbox: SandboxFactory, ingress: FakeIngress
) -> AsyncIterator[RunningSandbox]:
    async with start_sandbox(ingress_url=ingress.url, public_base_url=PUBLIC_BASE_URL) as sandbox:
        ingress.auth_token = sandbox.settings.twilio_auth_token.get_secret_value()
        yield sandbox


@pytest.fixture
async def http(chat_sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=chat_sandbox.base_url, timeout=10.0) as client:
        yield client


class EventStream:
    """The chat's event stream, read one event at a time with a timeout."""

    def __init__(self, events: AsyncIterator[ServerSentEvent]) -> None:
        self._events = events

    async def next(self, name: str | None = None) -> dict[str, Any]:
        """The next event (of kind ``name``, skipping others)."""
        async with asyncio.timeout(10):
            async for event in self._events:
                if name is None or event.event == name:
                    data: dict[str, Any] = event.json()
                    return {"event": event.event, **data}
        raise AssertionError("the stream ended")


@asynccontextmanager
async def event_stream(http: httpx.AsyncClient, user: str | None) -> AsyncIterator[EventStream]:
    params = {"user": user} if user else {}
    async with http.stream("GET", EVENTS_PATH, params=params) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield EventStream(read_events(answer.aiter_lines()))


async def test_config_says_which_model_answers_and_where_twilio_is(
    start_sandbox: SandboxFactory,
) -> None:
    async with (
        start_sandbox(
            model_label="gpt-6.1-terra",
            model_provider="openai",
            twilio_real=True,
            business_number="+14155550100",
            ingress_url="http://127.0.0.1:9",
            public_base_url="https://tunnel.example.test/",
        ) as sandbox,
        httpx.AsyncClient(base_url=sandbox.base_url) as client,
    ):
        config = (await client.get("/_sandbox/chat/config")).json()
    assert config["model_label"] == "gpt-6.1-terra"
    assert config["model_provider"] == "openai"
    assert config["twilio_real"] is True
    assert config["business_number"] == "whatsapp:+14155550100"
    assert config["webhook_url"] == "https://tunnel.example.test/twilio/messages"
    assert [preset["number"] for preset in config["presets"]] == [
        "+15550001111",
        "+15550002222",
        "+15550003333",
    ]


async def test_the_page_and_its_files_are_served_from_the_package(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name, kind in [
        ("chat.css", "text/css"),
        ("chat.js", "text/javascript"),
        ("icon.svg", "image/svg+xml"),
    ]:
        assert f"/_sandbox/chat/static/{name}" in page.text
        asset = await http.get(f"/_sandbox/chat/static/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(kind)
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # no CDN
    assert (await http.get("/_sandbox/chat/static/index.html")).status_code == 404
    assert (await http.get("/_sandbox/chat/static/..%2Fapp.py")).status_code == 404


async def test_a_message_is_posted_to_ingress_signed_like_twilio(
    http: httpx.AsyncClient, ingress: FakeIngress, chat_sandbox: RunningSandbox
) -> None:
    answer = await http.post(
        MESSAGES_PATH, json={"user": "1 (555) 000-1111", "body": "Hola ✓", "profile_name": "Ana"}
    )

    assert answer.status_code == 201, answer.text
    message = answer.json()["message"]
    form = await ingress.next_webhook()  # the stand-in checked the signature: 200, not 403
    assert form["MessageSid"] == message["id"]
    assert form["MessageSid"].startswith("SM")
    assert len(form["MessageSid"]) == 34
    assert form["AccountSid"] == chat_sandbox.settings.twilio_account_sid
    assert form["From"] == "whatsapp:+15550001111"
    assert form["To"] == "whatsapp:+14155238886"
    assert form["Body"] == "Hola ✓"
    assert form["ProfileName"] == "Ana"
    assert form["WaId"] == "15550001111"
    assert form["NumMedia"] == "0"
    assert message["user"] == USER
    assert message["direction"] == "in"
    assert message["status"] == "sent"
    transcript = (await http.get(MESSAGES_PATH, params={"user": USER})).json()
    assert [m["id"] for m in transcript] == [message["id"]]


async def test_a_photo_uploaded_then_sent_is_a_signed_media_webhook(
    http: httpx.AsyncClient, ingress: FakeIngress
) -> None:
    upload = await http.post(
        "/_sandbox/twilio/media", content=b"\x89PNG fake", headers={"Content-Type": "image/png"}
    )
    assert upload.status_code == 201, upload.text
    stored = upload.json()
    media = [{k: stored[k] for k in ("url", "content_type", "preview_url")}]

    answer = await http.post(
        MESSAGES_PATH,
        json={
            "user": USER,
            "body": "look",
            "media": media,
            "message_sid": stored["message_sid"],
        },
    )

    assert answer.status_code == 201, answer.text  # the stand-in checked the signature
    form = await ingress.next_webhook()
    assert form["MessageSid"] == stored["message_sid"]
    assert form["SmsMessageSid"] == stored["message_sid"]
    assert (form["NumMedia"], form["MessageType"], form["Body"]) == ("1", "image", "look")
    assert form["MediaUrl0"] == stored["url"]
    assert form["MediaUrl0"].startswith("https://api.twilio.com/2010-04-01/Accounts/")
    assert form["MediaContentType0"] == "image/png"
    message = answer.json()["message"]
    assert message["id"] == stored["message_sid"]
    assert message["media"] == media
    assert message["status"] == "sent"
    preview = await http.get(stored["preview_url"])
    assert (preview.status_code, preview.content) == (200, b"\x89PNG fake")


async def test_a_voice_note_needs_no_caption(http: httpx.AsyncClient, ingress: FakeIngress) -> None:
    first = (
        await http.post(
            "/_sandbox/twilio/media",
            content=b"voice",
            headers={"Content-Type": "audio/webm;codecs=opus"},
        )
    ).json()
    second = (
        await http.post(
            "/_sandbox/twilio/media",
            params={"message_sid": first["message_sid"]},
            content=b"%PDF-",
            headers={"Content-Type": "application/pdf"},
        )
    ).json()
    media = [{"url": m["url"], "content_type": m["content_type"]} for m in (first, second)]

    answer = await http.post(MESSAGES_PATH, json={"user": USER, "body": "", "media": media})

    assert answer.status_code == 201, answer.text
    form = await ingress.next_webhook()
    assert form["MessageSid"].startswith("MM")  # no upload SID given: a new media message
    assert (form["NumMedia"], form["MessageType"], form["Body"]) == ("2", "audio", "")
    assert (form["MediaUrl0"], form["MediaContentType0"]) == (first["url"], "audio/webm")
    assert (form["MediaUrl1"], form["MediaContentType1"]) == (second["url"], "application/pdf")
    transcript = (await http.get(MESSAGES_PATH, params={"user": USER})).json()
    assert transcript[-1]["body"] == ""
    assert [m["content_type"] for m in transcript[-1]["media"]] == ["audio/webm", "application/pdf"]


async def test_a_refused_webhook_is_a_failed_message_that_says_why(
    http: httpx.AsyncClient, ingress: FakeIngress
) -> None:
    ingress.status = 403
    answer = await http.post(MESSAGES_PATH, json={"user": USER, "body": "hello"})

    assert answer.status_code == 502
    assert "PUBLIC_BASE_URL" in answer.json()["detail"]
    assert answer.json()["message"]["status"] == "failed"
    assert "PUBLIC_BASE_URL" in answer.json()["message"]["error"]


async def test_an_unreachable_ingress_is_reported(start_sandbox: SandboxFactory) -> None:
    async with (
        start_sandbox(ingress_url="http://127.0.0.1:9") as sandbox,
        httpx.AsyncClient(base_url=sandbox.base_url) as client,
    ):
        answer = await client.post(MESSAGES_PATH, json={"user": USER, "body": "hello"})
    assert answer.status_code == 502
    assert "unreachable" in answer.json()["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"user": "not a number", "body": "hello"},
        {"user": "+0123", "body": "hello"},
        {"user": USER, "body": "   "},
        {"user": USER, "body": "x" * 4097},
        {"user": USER, "body": ""},
        {"user": USER, "body": " ", "media": []},
        {"user": USER, "body": "hi", "media": [{"url": "https://x.test/a"}]},
        {"user": USER, "body": "hi", "media": [{"url": "u", "content_type": "png"}]},
        {"user": USER, "body": "hi", "message_sid": "SM" + "0" * 32},
    ],
)
async def test_bad_input_is_refused_before_anything_is_posted(
    http: httpx.AsyncClient, ingress: FakeIngress, payload: dict[str, Any]
) -> None:
    assert (await http.post(MESSAGES_PATH, json=payload)).status_code == 422
    assert ingress.posts.empty()
    assert (await http.get(EVENTS_PATH, params={"user": "nope"})).status_code == 422


async def test_the_stream_shows_the_reply_with_its_ticks_and_the_typing_indicator(
    http: httpx.AsyncClient, ingress: FakeIngress, chat_sandbox: RunningSandbox
) -> None:
    async with event_stream(http, USER) as stream:
        snapshot = await stream.next("snapshot")
        assert snapshot["messages"] == []

        sent = (await http.post(MESSAGES_PATH, json={"user": USER, "body": "hi"})).json()
        inbound_sid = sent["message"]["id"]
        mine = await stream.next()
        assert mine["event"] == "message"
        assert (mine["id"], mine["direction"], mine["status"]) == (inbound_sid, "in", "pending")
        assert (await stream.next()) | {"event": "status"} == {
            "event": "status",
            "id": inbound_sid,
            "user": USER,
            "status": "sent",
            "error": None,
        }
        await ingress.next_webhook()

        async with twilio_client(chat_sandbox) as twilio:
            await twilio.messaging.v2.typing_indicator.create_async(
                channel="whatsapp", message_id=inbound_sid
            )
            typing = await stream.next()
            assert typing["event"] == "status"
            assert (typing["id"], typing["status"]) == (inbound_sid, "read")
            typing = await stream.next()
            assert typing["event"] == "typing"
            assert typing["user"] == USER

            reply = await twilio.messages.create_async(
                to=f"whatsapp:{USER}",
                from_="whatsapp:+14155238886",
                body="Echo #1: hi",
                status_callback=f"{ingress.url}/twilio/status",
            )

        out = await stream.next("message")
        assert (out["id"], out["direction"], out["body"]) == (reply.sid, "out", "Echo #1: hi")
        assert out["status"] == "queued"
        statuses = [(await stream.next("status"))["status"] for _ in range(2)]
        assert statuses == ["sent", "delivered"]
        # Read only once a client showed it (blue ticks), as WhatsApp reports it.
        assert (await http.post(read_path(reply.sid))).json() == {"read": True}
        assert (await stream.next("status"))["status"] == "read"
        assert (await http.post(read_path(reply.sid))).status_code == 404

    transcript = (await http.get(MESSAGES_PATH, params={"user": USER})).json()
    assert [(m["direction"], m["status"]) for m in transcript] == [("in", "read"), ("out", "read")]


async def test_a_stream_for_one_user_sees_nothing_of_another(
    http: httpx.AsyncClient, ingress: FakeIngress
) -> None:
    async with event_stream(http, "+15550002222") as other, event_stream(http, None) as everyone:
        await other.next("snapshot")
        await everyone.next("snapshot")
        first = (await http.post(MESSAGES_PATH, json={"user": USER, "body": "a"})).json()
        second = await http.post(MESSAGES_PATH, json={"user": "+15550002222", "body": "b"})

        assert (await everyone.next("message"))["id"] == first["message"]["id"]
        # The first event the other user's stream gets is its own message, not the first one.
        assert (await other.next())["id"] == second.json()["message"]["id"]


async def test_a_new_stream_starts_from_the_transcript(
    http: httpx.AsyncClient, ingress: FakeIngress
) -> None:
    sent = (await http.post(MESSAGES_PATH, json={"user": USER, "body": "earlier"})).json()
    async with event_stream(http, USER) as stream:
        snapshot = await stream.next("snapshot")
    assert [m["id"] for m in snapshot["messages"]] == [sent["message"]["id"]]
    assert snapshot["messages"][0]["body"] == "earlier"


def _message(sid: str, user: str) -> ChatMessage:
    return ChatMessage(sid, user, "in", "hi", datetime.now(UTC), "pending")


def test_the_transcript_keeps_the_latest_messages_for_everyone_and_per_user() -> None:
    hub = ChatHub(SandboxStore(SandboxSettings()))
    users = ("+15550000001", "+15550000002")
    for index in range(MAX_MESSAGES + 3):
        hub.add(_message(f"SM{index}", users[index % 2]))

    assert [m.id for m in hub.messages()] == [f"SM{i}" for i in range(3, MAX_MESSAGES + 3)]
    for parity, user in enumerate(users):
        kept = [f"SM{i}" for i in range(3, MAX_MESSAGES + 3) if i % 2 == parity]
        assert [m.id for m in hub.messages(user)] == kept
    assert hub.messages("+15550000003") == []


async def test_closing_the_hub_ends_its_streams() -> None:
    hub = ChatHub(SandboxStore(SandboxSettings()))
    with hub.subscribe(USER) as (subscription, _):
        hub.close()
        assert await subscription.queue.get() == END
        assert subscription.ended
    assert hub.subscribers == 0


def test_ticks_only_move_forward() -> None:
    hub = ChatHub(SandboxStore(SandboxSettings()))
    hub.add(message := _message("SM" + "0" * 32, USER))
    for status in ["sent", "read", "delivered", "sent"]:
        hub.update(message.id, status)
    assert message.status == "read"
    hub.add(other := _message("SM" + "1" * 32, USER))
    hub.update(other.id, "failed", "Twilio error 63016")
    hub.update(other.id, "delivered")
    assert (other.status, other.error) == ("failed", "Twilio error 63016")


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("+15550001111", "+15550001111"),
        ("whatsapp:+15550001111", "+15550001111"),
        ("1 555 000-1111", "+15550001111"),
        ("0044 7700 900123", "+447700900123"),
        ("(+44) 7700.900.123", "+447700900123"),
    ],
)
def test_numbers_are_read_the_way_people_type_them(typed: str, number: str) -> None:
    assert normalise_number(typed) == number


@pytest.mark.parametrize("typed", ["", "hello", "+0155500011", "+1555", "+1" + "5" * 15])
def test_what_is_not_a_number_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="international format"):
        normalise_number(typed)


async def test_events_round_trip_through_the_wire_format() -> None:
    async def lines() -> AsyncIterator[str]:
        text = (
            "retry: 1000\n\n: keepalive\n\n"
            + encode_event("message", {"a": 1, "b": "x\ny"})
            + encode_event("status", [1], event_id=7)
        )
        for line in text.split("\n"):
            yield line

    events = [event async for event in read_events(lines())]
    assert [(e.event, e.json(), e.id) for e in events] == [
        ("message", {"a": 1, "b": "x\ny"}, None),
        ("status", [1], "7"),
    ]


async def test_make_chat_sends_a_line_and_prints_the_reply_with_its_ticks(
    ingress: FakeIngress, chat_sandbox: RunningSandbox
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatbot_sandbox.chat.terminal",
        "--sandbox-url",
        chat_sandbox.base_url,
        "--user",
        "+1 555 000 7777",
        "--name",
        "Tess",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdin is not None
    process.stdin.write("hello terminal ✓\n".encode())
    await process.stdin.drain()
    process.stdin.close()  # piped input: it waits for the answer, then leaves

    form = await ingress.next_webhook()
    assert (form["From"], form["Body"], form["ProfileName"]) == (
        "whatsapp:+15550007777",
        "hello terminal ✓",
        "Tess",
    )
    async with twilio_client(chat_sandbox) as twilio:
        await twilio.messages.create_async(
            to="whatsapp:+15550007777",
            from_="whatsapp:+14155238886",
            body="Echo #1: hello terminal ✓",
            status_callback=f"{ingress.url}/twilio/status",
        )
    async with asyncio.timeout(20):
        output, _ = await process.communicate()

    text = output.decode()
    assert process.returncode == 0, text
    assert "Chatting as Tess (+15550007777)" in text
    assert "model: sandbox-test-echo (the sandbox's echo responder, not a real model)" in text
    assert "chatbot: Echo #1: hello terminal ✓  ✓✓" in text


async def test_make_chat_says_what_to_do_when_nothing_runs() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatbot_sandbox.chat.terminal",
        "--sandbox-url",
        f"http://127.0.0.1:{free_port()}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(20):
        output, _ = await process.communicate()
    assert process.returncode == 1
    assert "Start the system first with `make run`" in output.decode()


@pytest.mark.parametrize(
    ("hidden", "note"),
    [
        (0, None),
        (-3, None),
        (1, "(1 earlier message not shown)"),
        (4, "(4 earlier messages not shown)"),
    ],
)
def test_make_chat_says_how_many_earlier_messages_it_does_not_show(
    hidden: int, note: str | None
) -> None:
    assert earlier_note(hidden) == note
