"""Content templates on Messages create, and users' closed 24-hour windows.

Driven by the real `twilio` SDK, as the sender drives it; status callbacks go to a bare HTTP
receiver, as in test_faults_callbacks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from chatbot_devstack.embedded import RunningSandbox, twilio_client
from chatbot_devstack.receiver import FormReceiver, receiving
from chatbot_devstack.webhooks import Twilio, inbound_form
from chatbot_sandbox.chat.wire import MESSAGES_PATH
from chatbot_sandbox.twilio.settings import ORDER_READY_TEMPLATE_SID, REENGAGE_TEMPLATE_SID

TO = "whatsapp:+15550001111"
FROM = "whatsapp:+15550002222"
SERVICE_SID = "MG" + "0f" * 16

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]


@pytest.fixture
async def receiver() -> AsyncIterator[FormReceiver]:
    async with receiving(FormReceiver()) as running:
        yield running


async def statuses(receiver: FormReceiver, count: int) -> dict[str, list[tuple[str, str]]]:
    """The next ``count`` status callbacks, per message: (MessageStatus, ErrorCode) in order."""
    found: dict[str, list[tuple[str, str]]] = {}
    for _, _, form in await receiver.next_posts(count):
        found.setdefault(form["MessageSid"], []).append(
            (form["MessageStatus"], form.get("ErrorCode", ""))
        )
    return found


async def test_a_template_is_rendered_with_its_variables_and_recorded(
    sandbox: RunningSandbox,
) -> None:
    async with twilio_client(sandbox) as client:
        ready = await client.messages.create_async(
            to=TO,
            from_=FROM,
            content_sid=ORDER_READY_TEMPLATE_SID,
            content_variables=json.dumps({"1": "Ana"}),
        )
        default = await client.messages.create_async(
            to=TO, from_=FROM, content_sid=ORDER_READY_TEMPLATE_SID
        )
        reengage = await client.messages.create_async(
            to=TO, from_=FROM, content_sid=REENGAGE_TEMPLATE_SID
        )
    assert ready.body == "Hello Ana, your order is ready."
    assert ready.status == "queued"
    assert default.body == "Hello there, your order is ready."  # the variable's default
    assert reengage.body.startswith("We have an answer for you.")
    first, second, third = sandbox.store.twilio_messages.snapshot()
    assert (first.sid, first.body) == (ready.sid, "Hello Ana, your order is ready.")
    assert (first.content_sid, first.content_variables) == (
        ORDER_READY_TEMPLATE_SID,
        '{"1": "Ana"}',
    )
    assert (second.content_sid, second.content_variables) == (ORDER_READY_TEMPLATE_SID, None)
    assert third.body == reengage.body


async def test_a_template_through_a_messaging_service_answers_an_empty_body(
    sandbox: RunningSandbox,
) -> None:
    async with twilio_client(sandbox) as client:
        message = await client.messages.create_async(
            to=TO,
            messaging_service_sid=SERVICE_SID,
            content_sid=ORDER_READY_TEMPLATE_SID,
            content_variables='{"1": "Ben"}',
        )
    assert (message.status, message.body) == ("accepted", "")  # as Twilio answers it
    [record] = sandbox.store.twilio_messages.snapshot()
    assert record.body == "Hello Ben, your order is ready."  # what the user gets


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"content_sid": "HX" + "9" * 32}, 21655),  # well formed, but no such template
        ({"content_sid": "HX123"}, 21655),
        ({"content_sid": ORDER_READY_TEMPLATE_SID, "content_variables": "{'1': 'Ana'}"}, 21656),
        ({"content_sid": ORDER_READY_TEMPLATE_SID, "content_variables": '["Ana"]'}, 21656),
        ({"content_sid": ORDER_READY_TEMPLATE_SID, "content_variables": '{"1": 7}'}, 21656),
        ({"content_sid": ORDER_READY_TEMPLATE_SID, "content_variables": '{"1": ""}'}, 21656),
        ({"content_sid": ORDER_READY_TEMPLATE_SID, "content_variables": '{"1": "A\\nB"}'}, 21656),
    ],
)
async def test_a_bad_template_send_is_refused_with_twilios_code(
    sandbox: RunningSandbox, params: dict[str, Any], code: int
) -> None:
    async with twilio_client(sandbox) as client:
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=TO, from_=FROM, **params)
    assert (raised.value.status, raised.value.code) == (400, code)
    [rejected] = sandbox.store.twilio_rejected.snapshot()
    assert rejected.error_code == code
    assert len(sandbox.store.twilio_messages) == 0


async def test_the_content_api_tells_what_a_template_says(sandbox: RunningSandbox) -> None:
    async with twilio_client(sandbox) as client:
        content = await client.content.v1.contents(ORDER_READY_TEMPLATE_SID).fetch_async()
        with pytest.raises(TwilioRestException) as unknown:
            await client.content.v1.contents("HX" + "f" * 32).fetch_async()
    assert content.sid == ORDER_READY_TEMPLATE_SID
    assert content.types == {"twilio/text": {"body": "Hello {{1}}, your order is ready."}}
    assert content.variables == {"1": "there"}
    assert (unknown.value.status, unknown.value.code) == (404, 20404)


async def test_a_closed_window_fails_free_form_messages_later_and_lets_templates_through(
    start_sandbox: SandboxFactory, receiver: FormReceiver
) -> None:
    callback = f"{receiver.url}/twilio/status"
    async with start_sandbox(status_callbacks=True) as sandbox, twilio_client(sandbox) as client:
        async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
            closed = await http.post("/_sandbox/twilio/windows", json={"to": TO, "open": False})
        free_form = await client.messages.create_async(
            to=TO, from_=FROM, body="too late", status_callback=callback
        )
        template = await client.messages.create_async(
            to=TO, from_=FROM, content_sid=REENGAGE_TEMPLATE_SID, status_callback=callback
        )
        other = await client.messages.create_async(
            to="whatsapp:+15550003333", from_=FROM, body="still open", status_callback=callback
        )
        reported = await statuses(receiver, 5)
    assert (closed.status_code, closed.json()) == (200, {"closed": 1})
    assert free_form.status == "queued"  # accepted first, as WhatsApp fails it later
    assert reported == {
        free_form.sid: [("failed", "63016")],
        template.sid: [("sent", ""), ("delivered", "")],
        other.sid: [("sent", ""), ("delivered", "")],
    }


async def test_a_window_opens_again_when_asked_or_when_the_user_writes(
    start_sandbox: SandboxFactory, receiver: FormReceiver
) -> None:
    closing = {"to": TO}
    async with (
        start_sandbox(ingress_url=receiver.url) as sandbox,
        twilio_client(sandbox) as client,
        httpx.AsyncClient(base_url=sandbox.base_url) as http,
    ):
        await http.post("/_sandbox/twilio/windows", json=closing)
        opened = await http.post("/_sandbox/twilio/windows", json={"to": TO, "open": True})
        after_opening = await client.messages.create_async(to=TO, from_=FROM, body="one")
        await http.post("/_sandbox/twilio/windows", json=closing)
        closed = set(sandbox.store.twilio_windows)
        wrote = await http.post(MESSAGES_PATH, json={"user": "+15550001111", "body": "hello"})
        after_writing = await client.messages.create_async(to=TO, from_=FROM, body="two")
    assert opened.json() == {"closed": 0}
    assert after_opening.status == "queued"
    assert wrote.status_code == 201  # the chat's user wrote: Twilio's webhook went to ingress
    assert after_writing.status == "queued"
    assert closed == {TO}
    assert sandbox.store.twilio_windows == set()


async def test_a_window_needs_a_whatsapp_address(http: httpx.AsyncClient) -> None:
    answer = await http.post("/_sandbox/twilio/windows", json={"to": "+15550001111"})
    assert answer.status_code == 422


async def test_the_devstack_driver_closes_a_window_and_a_users_webhook_opens_it(
    sandbox: RunningSandbox, receiver: FormReceiver
) -> None:
    async with httpx.AsyncClient() as http:
        twilio = Twilio(http, ingress_url=receiver.url, sandbox_url=sandbox.base_url)
        await twilio.close_window(TO)
        closed = set(sandbox.store.twilio_windows)
        await twilio.deliver(inbound_form("I'm back", user=TO))
        reopened = set(sandbox.store.twilio_windows)
        await twilio.close_window(TO)
        await twilio.open_window(TO)
    assert closed == {TO}
    assert reopened == set()
    assert sandbox.store.twilio_windows == set()
