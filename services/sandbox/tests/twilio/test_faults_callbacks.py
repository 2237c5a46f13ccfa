"""The fake Twilio API beyond a plain create: typing indicators, injected faults, status callbacks.

Driven by the real `twilio` SDK, as the sender drives it; status callbacks go to a bare HTTP
receiver that checks their signatures with the SDK's RequestValidator, as ingress does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from chatbot_devstack.embedded import RunningSandbox, twilio_client
from chatbot_devstack.receiver import FormReceiver, receiving
from chatbot_sandbox.chat.wire import read_path
from chatbot_sandbox.twilio.records import TwilioFault

TO = "whatsapp:+15550001111"
FROM = "whatsapp:+15550002222"
INBOUND_SID = "SM" + "ab" * 16

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]


@pytest.fixture
async def receiver() -> AsyncIterator[FormReceiver]:
    async with receiving(FormReceiver()) as running:
        yield running


async def test_typing_indicator_is_answered_like_twilio(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    sandbox.store.twilio_faults.append(TwilioFault(operation="typing", status=503))
    async with twilio_client(sandbox) as client:
        indicators = client.messaging.v2.typing_indicator
        with pytest.raises(TwilioRestException) as refused:
            await indicators.create_async(channel="whatsapp", message_id=INBOUND_SID)
        shown = await indicators.create_async(channel="whatsapp", message_id=INBOUND_SID)
    assert shown.success is True
    assert refused.value.status == 503
    first, second = sandbox.store.twilio_typing.snapshot()
    assert (first.status_code, first.error_code) == (503, 503)
    assert (second.channel, second.message_id, second.status_code) == ("whatsapp", INBOUND_SID, 200)
    listed = (await http.get("/_sandbox/twilio/typing")).json()
    assert [entry["status_code"] for entry in listed] == [503, 200]


async def test_a_fault_answers_its_error_then_is_used_up(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    added = await http.post(
        "/_sandbox/twilio/faults",
        json={"status": 429, "code": 20429, "retry_after": "3", "times": 2, "to": TO},
    )
    assert added.status_code == 201
    async with twilio_client(sandbox) as client:
        with pytest.raises(TwilioRestException) as limited:
            await client.messages.create_async(to=TO, from_=FROM, body="one")
        other = await client.messages.create_async(to="whatsapp:+15550003333", from_=FROM, body="x")
    assert (limited.value.status, limited.value.code) == (429, 20429)
    assert other.status == "queued"  # a fault for TO leaves other numbers alone
    settings = sandbox.settings
    answer = await http.post(
        f"/2010-04-01/Accounts/{settings.twilio_account_sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "two"},
        auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()),
    )
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "3"
    async with twilio_client(sandbox) as client:
        third = await client.messages.create_async(to=TO, from_=FROM, body="three")
    assert third.status == "queued"
    assert sandbox.store.twilio_faults == []


async def test_a_probable_fault_hits_some_requests_and_counts_only_its_hits(
    start_sandbox: SandboxFactory,
) -> None:
    async with start_sandbox(fault_seed=3) as sandbox, twilio_client(sandbox) as client:
        sandbox.store.twilio_faults.append(TwilioFault(status=503, probability=0.5, times=5))
        for number in range(30):
            with contextlib.suppress(TwilioRestException):
                await client.messages.create_async(to=TO, from_=FROM, body=str(number))
        accepted = len(sandbox.store.twilio_messages)
        refused = sandbox.store.twilio_rejected.snapshot()
    assert [r.status_code for r in refused] == [503] * 5  # used up after five hits
    assert accepted == 25
    assert [r.body for r in refused] != ["0", "1", "2", "3", "4"]  # some were spared
    assert sandbox.store.twilio_faults == []


async def test_status_callbacks_are_signed_and_follow_the_message(
    start_sandbox: SandboxFactory, receiver: FormReceiver
) -> None:
    callback = f"{receiver.url}/twilio/status"
    async with start_sandbox(status_callbacks=True) as sandbox, twilio_client(sandbox) as client:
        message = await client.messages.create_async(
            to=TO, from_=FROM, body="hi", status_callback=callback
        )
        posts = await receiver.next_posts(2)
        async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
            # `read` comes once a chat client says it showed the message.
            assert (await http.post(read_path(message.sid))).status_code == 200
            posts += await receiver.next_posts(1)
            answer = await http.get(
                "/_sandbox/twilio/status-callbacks", params={"min_count": 3, "timeout": 5}
            )
        records = answer.json()
    validator = RequestValidator(sandbox.settings.twilio_auth_token.get_secret_value())
    # No callback for the initial status (`queued`), as Twilio: the create's answer gave it.
    assert [form["MessageStatus"] for _, _, form in posts] == ["sent", "delivered", "read"]
    for path, headers, form in posts:
        assert path == "/twilio/status"
        assert validator.validate(callback, form, headers["x-twilio-signature"])
        assert (form["MessageSid"], form["To"], form["From"]) == (message.sid, TO, FROM)
        assert form["AccountSid"] == sandbox.settings.twilio_account_sid
        assert "ErrorCode" not in form
    assert [(r["status"], r["response_status"]) for r in records] == [
        ("sent", 200),
        ("delivered", 200),
        ("read", 200),
    ]


async def test_a_callback_goes_to_its_url_as_given_query_included_and_signed_over_it(
    start_sandbox: SandboxFactory, receiver: FormReceiver
) -> None:
    callback = f"{receiver.url}/twilio/status?reengage=k1"
    async with start_sandbox(status_callbacks=True) as sandbox, twilio_client(sandbox) as client:
        await client.messages.create_async(to=TO, from_=FROM, body="hi", status_callback=callback)
        [(path, headers, form)] = await receiver.next_posts(1)
    validator = RequestValidator(sandbox.settings.twilio_auth_token.get_secret_value())
    signature = headers["x-twilio-signature"]
    assert path == "/twilio/status?reengage=k1"
    assert validator.validate(callback, form, signature)
    assert not validator.validate(f"{receiver.url}/twilio/status", form, signature)


async def test_a_failed_delivery_reports_failed_with_its_error_code(
    start_sandbox: SandboxFactory, receiver: FormReceiver
) -> None:
    async with start_sandbox(status_callbacks=True) as sandbox, twilio_client(sandbox) as client:
        sandbox.store.twilio_faults.append(TwilioFault(delivery_error_code=63016))
        message = await client.messages.create_async(
            to=TO, from_=FROM, body="too late", status_callback=f"{receiver.url}/twilio/status"
        )
        posts = await receiver.next_posts(1)
    assert message.status == "queued"  # accepted first, as Twilio does; it fails later
    assert [(form["MessageStatus"], form.get("ErrorCode")) for _, _, form in posts] == [
        ("failed", "63016"),
    ]


async def test_status_callbacks_can_be_switched_off(
    start_sandbox: SandboxFactory, receiver: FormReceiver
) -> None:
    callback = f"{receiver.url}/twilio/status"
    async with (
        start_sandbox(status_callbacks=False) as quiet,
        start_sandbox(status_callbacks=True) as talkative,
        twilio_client(quiet) as quiet_client,
        twilio_client(talkative) as talkative_client,
    ):
        await quiet_client.messages.create_async(
            to=TO, from_=FROM, body="no news", status_callback=callback
        )
        reported = await talkative_client.messages.create_async(
            to=TO, from_=FROM, body="news", status_callback=callback
        )
        posts = await receiver.next_posts(2)
    # The quiet sandbox's message was accepted first; had it reported, it would be here.
    assert {form["MessageSid"] for _, _, form in posts} == {reported.sid}
    assert len(quiet.store.twilio_status_callbacks) == 0


async def test_length_is_counted_as_twilio_counts_it(sandbox: RunningSandbox) -> None:
    async with twilio_client(sandbox) as client:
        fits = await client.messages.create_async(to=TO, from_=FROM, body="😀" * 800)
        with pytest.raises(TwilioRestException) as too_long:
            await client.messages.create_async(to=TO, from_=FROM, body="😀" * 801)
    assert fits.status == "queued"
    assert too_long.value.code == 21617  # 801 emoji are 1,602 UTF-16 code units
