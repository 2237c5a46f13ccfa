"""The chat page's endpoints: signed webhooks out, and the transcript's live event stream.

Replies are made the way the sender makes them: the real `twilio` SDK creating a message (with
a StatusCallback) and a typing indicator on the sandbox, so the stream shows what the page
would show.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from chatbot_devstack import BUSINESS_NUMBER
from chatbot_devstack.embedded import RunningSandbox, twilio_client
from chatbot_sandbox.chat.wire import EVENTS_PATH, MESSAGES_PATH, read_path

USER = "+15550001111"

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]
Transcript = Callable[[str], Any]
Streams = Callable[[str | None], Any]
FakeIngress = Any  # chat/conftest.py


async def test_config_says_which_model_answers_and_where_twilio_is(
    start_sandbox: SandboxFactory,
) -> None:
    async with (
        start_sandbox(
            model_label="gpt-6.1-terra",
            model_provider="openai",
            twilio_real=True,
            business_number="+14155550100",
        ) as sandbox,
        httpx.AsyncClient(base_url=sandbox.base_url) as client,
    ):
        config = (await client.get("/_sandbox/chat/config")).json()
    assert config["model_label"] == "gpt-6.1-terra"
    assert config["model_provider"] == "openai"
    assert config["twilio_real"] is True
    assert config["business_number"] == "whatsapp:+14155550100"
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
    http: httpx.AsyncClient,
    ingress: FakeIngress,
    chat_sandbox: RunningSandbox,
    transcript: Transcript,
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
    assert form["To"] == BUSINESS_NUMBER
    assert form["Body"] == "Hola ✓"
    assert form["ProfileName"] == "Ana"
    assert form["WaId"] == "15550001111"
    assert form["NumMedia"] == "0"
    assert message["user"] == USER
    assert message["direction"] == "in"
    assert message["status"] == "sent"
    assert [m["id"] for m in await transcript(USER)] == [message["id"]]


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


async def test_a_voice_note_needs_no_caption(
    http: httpx.AsyncClient, ingress: FakeIngress, transcript: Transcript
) -> None:
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
    (shown,) = await transcript(USER)
    assert shown["body"] == ""
    assert [m["content_type"] for m in shown["media"]] == ["audio/webm", "application/pdf"]


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
    http: httpx.AsyncClient,
    ingress: FakeIngress,
    chat_sandbox: RunningSandbox,
    stream: Streams,
    transcript: Transcript,
) -> None:
    async with stream(USER) as events:
        snapshot = await events.next("snapshot")
        assert snapshot["messages"] == []

        sent = (await http.post(MESSAGES_PATH, json={"user": USER, "body": "hi"})).json()
        inbound_sid = sent["message"]["id"]
        mine = await events.next()
        assert mine["event"] == "message"
        assert (mine["id"], mine["direction"], mine["status"]) == (inbound_sid, "in", "pending")
        assert (await events.next()) | {"event": "status"} == {
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
            typing = await events.next()
            assert typing["event"] == "status"
            assert (typing["id"], typing["status"]) == (inbound_sid, "read")
            typing = await events.next()
            assert typing["event"] == "typing"
            assert typing["user"] == USER

            reply = await twilio.messages.create_async(
                to=f"whatsapp:{USER}",
                from_=BUSINESS_NUMBER,
                body="Echo #1: hi",
                status_callback=f"{ingress.url}/twilio/status",
            )

        out = await events.next("message")
        assert (out["id"], out["direction"], out["body"]) == (reply.sid, "out", "Echo #1: hi")
        assert out["status"] == "queued"
        statuses = [(await events.next("status"))["status"] for _ in range(2)]
        assert statuses == ["sent", "delivered"]
        # Read only once a client showed it (blue ticks), as WhatsApp reports it.
        assert (await http.post(read_path(reply.sid))).json() == {"read": True}
        assert (await events.next("status"))["status"] == "read"
        assert (await http.post(read_path(reply.sid))).status_code == 404

    shown = await transcript(USER)
    assert [(m["direction"], m["status"]) for m in shown] == [("in", "read"), ("out", "read")]


async def test_a_stream_for_one_user_sees_nothing_of_another(
    http: httpx.AsyncClient, ingress: FakeIngress, stream: Streams
) -> None:
    async with stream("+15550002222") as other, stream(None) as everyone:
        await other.next("snapshot")
        await everyone.next("snapshot")
        first = (await http.post(MESSAGES_PATH, json={"user": USER, "body": "a"})).json()
        second = await http.post(MESSAGES_PATH, json={"user": "+15550002222", "body": "b"})

        assert (await everyone.next("message"))["id"] == first["message"]["id"]
        # The first event the other user's stream gets is its own message, not the first one.
        assert (await other.next())["id"] == second.json()["message"]["id"]


async def test_a_new_stream_starts_from_the_transcript(
    http: httpx.AsyncClient, ingress: FakeIngress, transcript: Transcript
) -> None:
    sent = (await http.post(MESSAGES_PATH, json={"user": USER, "body": "earlier"})).json()
    (shown,) = await transcript(USER)
    assert (shown["id"], shown["body"]) == (sent["message"]["id"], "earlier")
