"""ingress against a real nats-server: verified, durable, deduplicated webhooks."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY

from chatbot_common.userkey import user_key
from chatbot_devstack import ACCOUNT_SID, signed
from chatbot_devstack import BUSINESS_NUMBER as BUSINESS
from chatbot_ingress.config import IngressSettings

from .conftest import PUBLIC, SECRET, TOKEN, Factory, stream_messages

USER = "whatsapp:+15550001111"


def inbound(**fields: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "From": USER,
        "To": BUSINESS,
        "Body": "hello",
        "NumMedia": "0",
        **fields,
    }


def counted(route: str, outcome: str) -> float:
    labels = {"route": route, "outcome": outcome}
    return REGISTRY.get_sample_value("chatbot_webhook_requests_total", labels) or 0.0


async def test_signed_message_is_published_then_answered_with_empty_twiml(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    form = inbound(Brand_New_Field="kept")
    answer = await client.post(
        "/twilio/messages", data=form, headers=signed(f"{PUBLIC}/twilio/messages", form, TOKEN)
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

    (stored,) = await stream_messages(nc, "CHAT_INBOUND")
    assert stored.subject == f"chat.inbound.{user_key(SECRET, BUSINESS, USER)}"
    assert "+1555" not in stored.subject
    assert stored.headers["Nats-Msg-Id"] == form["MessageSid"]
    assert stored.headers["traceparent"].startswith("00-")
    payload = json.loads(stored.data)
    assert (payload["from"], payload["to"], payload["body"]) == (USER, BUSINESS, "hello")
    assert payload["extra"] == {"Brand_New_Field": "kept"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, id="invalid"),
        pytest.param("other-token", id="signed-with-another-token"),
        pytest.param("other-url", id="signed-for-another-url"),
    ],
)
async def test_bad_signature_is_refused_and_nothing_published(
    client: httpx.AsyncClient, nc: NATS, headers: Any
) -> None:
    form = inbound()
    if headers == "other-token":
        headers = signed(f"{PUBLIC}/twilio/messages", form, "other")
    elif headers == "other-url":
        headers = signed("https://evil.example.com/twilio/messages", form, TOKEN)
    before = counted("/twilio/messages", "forbidden")
    answer = await client.post("/twilio/messages", data=form, headers=headers)
    assert answer.status_code == 403
    assert "X-Twilio-Signature" in answer.text
    assert await stream_messages(nc, "CHAT_INBOUND") == []
    assert counted("/twilio/messages", "forbidden") == before + 1


async def test_signature_with_the_default_port_is_accepted(client: httpx.AsyncClient) -> None:
    form = inbound()
    headers = signed("https://bot.example.com:443/twilio/messages", form, TOKEN)
    assert (await client.post("/twilio/messages", data=form, headers=headers)).status_code == 200


@pytest.mark.parametrize(("trusted", "expected"), [(True, 200), (False, 403)])
async def test_behind_a_proxy_the_forwarded_url_is_checked_only_when_trusted(
    make_ingress: Factory, trusted: bool, expected: int
) -> None:
    form = inbound()
    headers = signed("https://public.example.org/twilio/messages", form, TOKEN) | {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "public.example.org",
    }
    async with make_ingress(
        public_base_url=None, public_base_url_from_request=True, trust_proxy_headers=trusted
    ) as client:
        answer = await client.post("/twilio/messages", data=form, headers=headers)
    assert answer.status_code == expected


@pytest.mark.parametrize(
    ("proto", "host"),
    [
        ("javascript", "public.example.org"),
        ("ftp", "public.example.org"),
        ("https", "public.example.org/evil"),
        ("https", "user@public.example.org"),
        ("https", "public.example.org?x=1"),
        ("https", ""),
    ],
)
async def test_forwarded_headers_that_make_no_http_url_are_refused_even_when_signed(
    make_ingress: Factory, proto: str, host: str
) -> None:
    form = inbound()
    headers = signed(f"{proto}://{host}/twilio/messages", form, TOKEN) | {
        "X-Forwarded-Proto": proto,
        "X-Forwarded-Host": host,
    }
    before = counted("/twilio/messages", "forbidden")
    async with make_ingress(
        public_base_url=None, public_base_url_from_request=True, trust_proxy_headers=True
    ) as client:
        answer = await client.post("/twilio/messages", data=form, headers=headers)
    assert answer.status_code == 403
    assert counted("/twilio/messages", "forbidden") == before + 1


async def test_signing_the_request_url_warns_at_start(
    make_ingress: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with make_ingress(public_base_url=None, public_base_url_from_request=True):
            pass
    assert "PUBLIC_BASE_URL is unset" in caplog.text
    assert "Host header" in caplog.text


async def test_a_public_url_means_no_warning_and_the_opt_in_is_moot(
    make_ingress: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    form = inbound()
    headers = signed(f"{PUBLIC}/twilio/messages", form, TOKEN) | {"Host": "evil.example.com"}
    with caplog.at_level(logging.WARNING):
        async with make_ingress(public_base_url_from_request=True) as client:
            answer = await client.post("/twilio/messages", data=form, headers=headers)
    assert answer.status_code == 200
    assert "PUBLIC_BASE_URL" not in caplog.text


async def test_three_deliveries_of_one_message_make_one_stream_message(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    form = inbound()
    headers = signed(f"{PUBLIC}/twilio/messages", form, TOKEN)
    before = REGISTRY.get_sample_value(
        "chatbot_webhook_duplicates_total", {"route": "/twilio/messages"}
    )
    for _ in range(3):
        answer = await client.post("/twilio/messages", data=form, headers=headers)
        assert answer.status_code == 200
    assert len(await stream_messages(nc, "CHAT_INBOUND")) == 1
    after = REGISTRY.get_sample_value(
        "chatbot_webhook_duplicates_total", {"route": "/twilio/messages"}
    )
    assert (after or 0) - (before or 0) == 2


@pytest.mark.parametrize(
    ("content", "headers", "status", "outcome", "says"),
    [
        pytest.param(
            json.dumps({"MessageSid": "SM1"}),
            {"Content-Type": "application/json"},
            415,
            "unsupported_media_type",
            "application/x-www-form-urlencoded",
            id="json",
        ),
        pytest.param(
            "Body=" + "x" * 70_000,
            {"Content-Type": "application/x-www-form-urlencoded"},
            413,
            "too_large",
            "65536",
            id="too-large",
        ),
        pytest.param(
            "From=whatsapp%3A%2B1&To=whatsapp%3A%2B2",
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
            "bad_request",
            "MessageSid",
            id="missing-sid",
        ),
        pytest.param(
            b"MessageSid=SM1&From=\xff&To=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
            "bad_request",
            "UTF-8",
            id="not-utf8",
        ),
    ],
)
async def test_bad_input_gets_a_clear_error_and_publishes_nothing(
    make_ingress: Factory,
    nc: NATS,
    content: str | bytes,
    headers: dict[str, str],
    status: int,
    outcome: str,
    says: str,
) -> None:
    before = counted("/twilio/messages", outcome)
    async with make_ingress(twilio_validate_signature=False) as client:
        answer = await client.post("/twilio/messages", content=content, headers=headers)
    assert answer.status_code == status
    assert says in answer.text
    assert await stream_messages(nc, "CHAT_INBOUND") == []
    assert counted("/twilio/messages", outcome) == before + 1


async def test_oversized_body_is_refused_before_it_is_read(make_ingress: Factory) -> None:
    reads = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal reads
        while True:
            reads += 1
            yield b"x" * 4096

    async with make_ingress(max_body_bytes=10_000) as client:
        answer = await client.post(
            "/twilio/messages",
            content=endless(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 413
    assert reads <= 4


async def ready_again(client: httpx.AsyncClient) -> None:
    """Wait until /readyz says 200, as Kubernetes would see it (the NATS client reconnects
    on its own schedule, which ingress exposes only through readiness)."""
    async with asyncio.timeout(15):
        while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_nats_down_means_503_and_back_means_200_without_restart(
    make_ingress: Factory, nats_server: Any
) -> None:
    async with make_ingress() as client:
        await nats_server.stop()
        form = inbound()
        headers = signed(f"{PUBLIC}/twilio/messages", form, TOKEN)
        down = await client.post("/twilio/messages", data=form, headers=headers)
        assert down.status_code == 503
        assert "retry" in down.text
        assert (await client.get("/readyz")).status_code == 503

        await nats_server.start()
        await ready_again(client)
        again = await client.post("/twilio/messages", data=form, headers=headers)
        assert again.status_code == 200


async def test_status_callback_is_published_once_per_status(
    client: httpx.AsyncClient, nc: NATS
) -> None:
    sid = "SM" + uuid.uuid4().hex
    url = f"{PUBLIC}/twilio/status"
    for status in ("sent", "delivered", "delivered"):
        form = {
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "MessageStatus": status,
            "From": BUSINESS,
            "To": USER,
        }
        answer = await client.post("/twilio/status", data=form, headers=signed(url, form, TOKEN))
        assert answer.status_code == 200
    stored = await stream_messages(nc, "CHAT_EVENTS")
    assert [json.loads(m.data)["status"] for m in stored] == ["sent", "delivered"]
    assert [m.headers["Nats-Msg-Id"] for m in stored] == [f"{sid}:sent", f"{sid}:delivered"]
    # A status about a reply lands on the same user key as the user's own messages.
    assert stored[0].subject == f"chat.events.status.{user_key(SECRET, BUSINESS, USER)}"


@pytest.mark.parametrize(
    ("status", "code", "reengage", "asked"),
    [
        ("failed", "63016", "{key}.reengage.1765000000", True),
        ("undelivered", "63016", "{key}.reengage.1765000000", True),
        ("failed", "63016", "", False),  # a template's callback carries none
        ("failed", "30008", "{key}.reengage.1765000000", False),  # another failure
        ("failed", "63016", "someone-else.reengage.1", False),  # not this user's key
    ],
)
async def test_a_late_63016_asks_the_sender_for_the_reengagement(
    client: httpx.AsyncClient, nc: NATS, status: str, code: str, reengage: str, asked: bool
) -> None:
    key = user_key(SECRET, BUSINESS, USER)
    query = f"?reengage={reengage.format(key=key)}" if reengage else ""
    url = f"{PUBLIC}/twilio/status{query}"
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "MessageStatus": status,
        "ErrorCode": code,
        "From": BUSINESS,
        "To": USER,
    }
    before = REGISTRY.get_sample_value("chatbot_window_closed_total", {"cause": "63016_status"})
    for _ in range(2):  # Twilio may post a callback twice: one request all the same
        answer = await client.post(
            f"/twilio/status{query}", data=form, headers=signed(url, form, TOKEN)
        )
        assert answer.status_code == 200
    assert len(await stream_messages(nc, "CHAT_EVENTS")) == 1
    requests = await stream_messages(nc, "CHAT_OUTBOUND")
    after = REGISTRY.get_sample_value("chatbot_window_closed_total", {"cause": "63016_status"})
    assert after == (before or 0) + asked
    if not asked:
        assert requests == []
        return
    [request] = requests
    assert request.subject == f"chat.outbound.{key}"
    assert request.headers["Nats-Msg-Id"] == reengage.format(key=key)
    body = json.loads(request.data)
    assert (body["kind"], body["to"], body["from"]) == ("reengage", USER, BUSINESS)


async def test_allow_list_answers_others_without_publishing(
    make_ingress: Factory, nc: NATS
) -> None:
    reply = "Sorry, this assistant is in private beta."
    async with make_ingress(allowed_senders="+15550009999", not_allowed_reply=reply) as client:
        form = inbound()
        answer = await client.post(
            "/twilio/messages", data=form, headers=signed(f"{PUBLIC}/twilio/messages", form, TOKEN)
        )
        assert answer.status_code == 200
        assert "<Message>Sorry, this assistant is in private beta.</Message>" in answer.text
        assert await stream_messages(nc, "CHAT_INBOUND") == []

        allowed = inbound(From="whatsapp:+15550009999")
        answer = await client.post(
            "/twilio/messages",
            data=allowed,
            headers=signed(f"{PUBLIC}/twilio/messages", allowed, TOKEN),
        )
        assert answer.status_code == 200
        assert len(await stream_messages(nc, "CHAT_INBOUND")) == 1


async def test_turning_validation_off_warns_at_start(
    make_ingress: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with make_ingress(twilio_validate_signature=False):
            pass
    assert "TWILIO_VALIDATE_SIGNATURE is off" in caplog.text


def test_validation_on_without_a_token_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN is required"):
        IngressSettings(user_key_secret=SECRET, twilio_auth_token=None, public_base_url=PUBLIC)


@pytest.mark.parametrize("unset", [{}, {"public_base_url": ""}, {"public_base_url": "  "}])
def test_validation_on_without_a_public_url_is_a_configuration_error(
    unset: dict[str, str],
) -> None:
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL is required") as raised:
        IngressSettings(user_key_secret=SECRET, twilio_auth_token=TOKEN, **unset)
    assert "PUBLIC_BASE_URL_FROM_REQUEST=true" in str(raised.value)


def test_the_request_url_is_used_only_on_explicit_opt_in_or_without_validation() -> None:
    opted_in = IngressSettings(
        user_key_secret=SECRET, twilio_auth_token=TOKEN, public_base_url_from_request=True
    )
    assert opted_in.public_base_url is None
    assert opted_in.signs_request_url
    unchecked = IngressSettings(user_key_secret=SECRET, twilio_validate_signature=False)
    assert not unchecked.signs_request_url
    configured = IngressSettings(
        user_key_secret=SECRET, twilio_auth_token=TOKEN, public_base_url=PUBLIC + "/"
    )
    assert not configured.signs_request_url


@pytest.mark.parametrize(
    "url",
    [
        "javascript://bot.example.com",
        "bot.example.com",
        "https://",
        "https://user@bot.example.com",
        "https://bot.example.com?x=1",
        "https://bot.example.com#x",
        "https://bot.example.com:http",
    ],
)
def test_a_public_url_must_be_an_http_origin(url: str) -> None:
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        IngressSettings(user_key_secret=SECRET, twilio_auth_token=TOKEN, public_base_url=url)


async def test_webhook_routes_take_only_post_and_others_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/twilio/messages")).status_code == 405
    assert (await client.post("/twilio/other", data={})).status_code == 404
    assert (await client.get("/healthz")).json() == {"status": "ok"}
