"""The fake Twilio's Messages API, driven by the real `twilio` SDK (async client)."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from chatbot_devstack.embedded import RunningSandbox, twilio_client

TO = "whatsapp:+15550001111"
FROM = "whatsapp:+15550002222"
SERVICE_SID = "MG" + "0f" * 16
CALLBACK = "http://127.0.0.1:8080/twilio/status"


async def test_create_is_accepted_parsed_and_recorded(sandbox: RunningSandbox) -> None:
    async with twilio_client(sandbox) as client:
        message = await client.messages.create_async(
            to=TO,
            from_=FROM,
            body="Hello *there*",
            media_url=["https://example.com/a.png", "https://example.com/b.ogg"],
            status_callback=CALLBACK,
        )

    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert message.account_sid == sandbox.settings.twilio_account_sid
    assert (message.to, message.from_, message.body) == (TO, FROM, "Hello *there*")
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert (message.num_media, message.num_segments) == ("2", "1")
    assert isinstance(message.date_created, datetime)
    assert message.date_sent is None
    assert message.error_code is None
    assert message.uri.endswith(f"/Messages/{message.sid}.json")

    [record] = await sandbox.store.twilio_messages.wait_for(1, timeout=2)
    assert record.sid == message.sid
    assert (record.to, record.from_, record.body) == (TO, FROM, "Hello *there*")
    assert record.media_urls == ["https://example.com/a.png", "https://example.com/b.ogg"]
    assert record.status_callback == CALLBACK
    assert record.messaging_service_sid is None
    assert len(sandbox.store.twilio_rejected) == 0


async def test_messaging_service_instead_of_from(sandbox: RunningSandbox) -> None:
    async with twilio_client(sandbox) as client:
        message = await client.messages.create_async(
            to=TO, messaging_service_sid=SERVICE_SID, media_url=["https://example.com/a.png"]
        )
    assert message.from_ is None
    assert message.messaging_service_sid == SERVICE_SID
    assert message.status == "accepted"  # Twilio's initial status with a Messaging Service
    assert message.num_media == "1"
    [record] = sandbox.store.twilio_messages.snapshot()
    assert record.body is None
    assert record.messaging_service_sid == SERVICE_SID


async def test_wrong_token_is_401_authenticate(sandbox: RunningSandbox) -> None:
    async with twilio_client(sandbox, token="not-the-token") as client:
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=TO, from_=FROM, body="hi")
    assert raised.value.status == 401
    assert raised.value.code == 20003
    [rejected] = sandbox.store.twilio_rejected.snapshot()
    assert (rejected.status_code, rejected.error_code, rejected.sid) == (401, 20003, None)
    assert len(sandbox.store.twilio_messages) == 0


async def test_path_account_must_match_credentials(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    settings = sandbox.settings
    other = "AC" + "9" * 32
    answer = await http.post(
        f"/2010-04-01/Accounts/{other}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "hi"},
        auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()),
    )
    assert answer.status_code == 401
    assert answer.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


async def test_a_body_over_1600_characters_is_a_twilio_rest_exception(
    sandbox: RunningSandbox,
) -> None:
    async with twilio_client(sandbox) as client:
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=TO, from_=FROM, body="x" * 1601)
    assert (raised.value.status, raised.value.code) == (400, 21617)
    assert "exceeds the 1600 character limit" in raised.value.msg
    [rejected] = sandbox.store.twilio_rejected.snapshot()
    assert rejected.error_code == 21617
    assert len(sandbox.store.twilio_messages) == 0


async def test_body_of_exactly_1600_characters_is_accepted(sandbox: RunningSandbox) -> None:
    async with twilio_client(sandbox) as client:
        message = await client.messages.create_async(to=TO, from_=FROM, body="y" * 1600)
    assert message.body == "y" * 1600
