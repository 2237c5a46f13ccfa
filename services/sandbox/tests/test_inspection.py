"""The inspection endpoints: health, info, long-polled record lists, and clearing."""

from __future__ import annotations

import asyncio

import httpx

from chatbot_devstack.embedded import RunningSandbox

TO = "whatsapp:+15550001111"
FROM = "whatsapp:+15550002222"


async def _send(sandbox: RunningSandbox, http: httpx.AsyncClient, **form: str) -> httpx.Response:
    settings = sandbox.settings
    return await http.post(
        f"/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json",
        data=form,
        auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()),
    )


async def test_healthz_and_info(sandbox: RunningSandbox, http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    info = (await http.get("/_sandbox/info")).json()
    assert info["model_label"] == sandbox.settings.model_label
    assert info["sandbox"].startswith("local stand-ins")


async def test_lists_long_poll_until_min_count(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    listing = asyncio.create_task(
        http.get("/_sandbox/twilio/messages", params={"min_count": 1, "timeout": 5})
    )
    sent = await _send(sandbox, http, To=TO, From=FROM, Body="hi", StatusCallback="http://cb")
    assert sent.status_code == 201
    [message] = (await listing).json()
    assert message["sid"] == sent.json()["sid"]
    assert (message["to"], message["from"], message["body"]) == (TO, FROM, "hi")
    assert message["messaging_service_sid"] is None
    assert message["media_urls"] == []
    assert message["status_callback"] == "http://cb"
    assert message["received_at"]


async def test_list_timeout_returns_what_there_is(http: httpx.AsyncClient) -> None:
    answer = await http.get("/_sandbox/twilio/messages", params={"min_count": 1, "timeout": 0.05})
    assert answer.json() == []


async def test_after_leaves_out_the_records_already_read(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    for body in ("one", "two", "three"):
        assert (await _send(sandbox, http, To=TO, From=FROM, Body=body)).status_code == 201
    later = (await http.get("/_sandbox/twilio/messages", params={"after": 1})).json()
    assert [message["body"] for message in later] == ["two", "three"]
    assert (await http.get("/_sandbox/twilio/messages", params={"after": 3})).json() == []


async def test_rejected_and_openai_requests_are_listed(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    assert (await _send(sandbox, http, To=TO, From=FROM, Body="x" * 1601)).status_code == 400
    [rejected] = (await http.get("/_sandbox/twilio/rejected")).json()
    assert (rejected["status_code"], rejected["error_code"], rejected["sid"]) == (400, 21617, None)

    headers = {"Authorization": "Bearer sk-test"}
    created = await http.post("/v1/conversations", headers=headers, json={})
    conversation_id = created.json()["id"]
    reply = await http.post(
        "/v1/responses",
        headers=headers,
        json={"model": "m", "input": "hi", "conversation": conversation_id, "instructions": "x"},
    )
    assert reply.status_code == 200
    requests = (await http.get("/_sandbox/openai/requests")).json()
    assert [r["endpoint"] for r in requests] == ["conversations.create", "responses.create"]
    assert requests[1]["conversation"] == conversation_id
    assert requests[1]["instructions"] == "x"
    assert requests[1]["input_text"] == "hi"
