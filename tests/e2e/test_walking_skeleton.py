"""One WhatsApp message end to end, with every part a separate process as in `make run`.

A webhook signed like Twilio's goes to ingress; the reply must reach the sandbox's Twilio API
exactly once, from the business number to the user, with the model's answer as its body.
"""

from __future__ import annotations

import httpx
import pytest

from chatbot_devstack import BUSINESS_NUMBER, USER, LocalStack, Twilio, inbound_form

pytestmark = pytest.mark.e2e


async def test_signed_webhook_is_answered_exactly_once(
    stack: LocalStack, twilio: Twilio, http: httpx.AsyncClient
) -> None:
    form = inbound_form("hello there")

    first = await twilio.post(form)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/xml")
    assert "<Response/>" in first.text

    # Twilio retries a webhook it thinks failed: same MessageSid, no second reply.
    assert (await twilio.post(form)).status_code == 200

    (reply,) = await twilio.sent_messages(at_least=1)
    assert reply["body"] == "Echo #1: hello there"

    # The user answers: one more reply, in the same conversation (the responder counts turns).
    assert (await twilio.post(inbound_form("and again"))).status_code == 200
    messages = await twilio.sent_messages(at_least=2)
    assert [message["body"] for message in messages] == [
        "Echo #1: hello there",
        "Echo #2: and again",
    ]
    assert all(message["to"] == USER for message in messages)
    assert all(message["from"] == BUSINESS_NUMBER for message in messages)
    metrics = (await http.get(f"{stack.url('ingress')}/metrics")).text
    assert 'chatbot_webhook_duplicates_total{route="/twilio/messages"} 1.0' in metrics


async def test_unsigned_webhook_is_refused_and_nothing_is_sent(
    stack: LocalStack, twilio: Twilio, http: httpx.AsyncClient
) -> None:
    url = f"{stack.url('ingress')}/twilio/messages"
    forged = await http.post(
        url, data=inbound_form("forged"), headers={"X-Twilio-Signature": "bm90IGl0"}
    )
    assert forged.status_code == 403
    # A signed message afterwards is the only one answered.
    assert (await twilio.post(inbound_form("real"))).status_code == 200
    messages = await twilio.sent_messages(at_least=1)
    assert [message["body"] for message in messages] == ["Echo #1: real"]
