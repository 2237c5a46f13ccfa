"""The sender's delivery records under a store that will not take them: no part twice.

CHAT_DELIVERIES refusing new records, and lost under a Twilio call: what the sender does and
what must hold are in docs/reliability.md, "The delivery records cannot be written".
"""

from __future__ import annotations

import pytest
from nats.js.api import StreamConfig

from chatbot_common.topology import DELIVERIES_BUCKET
from chatbot_devstack import inbound_form, poll, user_number

from .conftest import SystemFactory
from .system import Sent, check_ledger

pytestmark = pytest.mark.e2e

BUCKET_STREAM = f"KV_{DELIVERIES_BUCKET.name}"


async def deliver(system: object, user: str, text: str) -> Sent:
    form = inbound_form(text, user=user)
    await system.deliver(form)  # type: ignore[attr-defined]
    return Sent(user, form["MessageSid"], text)


@pytest.mark.timeout(180)
async def test_a_store_refusing_records_holds_the_reply_and_sends_each_part_once(
    start_system: SystemFactory,
) -> None:
    early, late = user_number(1), user_number(2)
    async with start_system() as system:
        sent = {early: [await deliver(system, early, "u1m0")]}
        await system.settle()
        info = await system.js.stream_info(BUCKET_STREAM)
        full = StreamConfig.from_response(info.config.as_dict())
        full.max_msgs = info.state.messages  # a KV bucket discards new: new keys are refused
        await system.js.update_stream(full)

        handled = "chatbot_consumer_messages_total"
        before = await system.metric("sender", handled, consumer="sender")
        sent[late] = [await deliver(system, late, "u2m0")]

        async def tried_thrice() -> bool:  # the typing request, then the reply three times
            return await system.metric("sender", handled, consumer="sender") >= before + 4

        await poll(tried_thrice, every=0.2, timeout=30)
        while_full = [m for m in await system.sandbox_records("twilio/messages") if m["to"] == late]
        unready = (await system.http.get(f"{system.url('sender')}/readyz")).json()

        await system.js.update_stream(StreamConfig.from_response(info.config.as_dict()))
        await system.settle()
        outcome = await system.outcome()

    assert while_full == []  # nothing was sent while its record could not be written
    assert "refuses writes" in unready.get("reason", ""), unready
    check_ledger(sent, outcome)


@pytest.mark.timeout(180)
async def test_a_record_lost_under_the_twilio_call_is_written_later_and_not_sent_again(
    start_system: SystemFactory,
) -> None:
    user = user_number(3)
    async with start_system() as system:
        kv = await system.js.key_value(DELIVERIES_BUCKET.name)
        watcher = await kv.watchall()

        async def claimed() -> None:
            while True:  # the sender's claim, an empty value: Twilio is being called now
                entry = await watcher.updates(timeout=20)
                if entry is not None and entry.value == b"":
                    return

        await system.twilio_fault(to=user, delay=1.0)  # Twilio answers after 1 s
        sent = {user: [await deliver(system, user, "u3m0")]}
        await claimed()
        await watcher.stop()
        await system.js.delete_stream(BUCKET_STREAM)  # gone while Twilio accepts the part
        await system.settle()
        outcome = await system.outcome()
        kept = await system.metric(
            "sender", "chatbot_delivery_record_failures_total", step="record"
        )

    assert kept >= 1
    check_ledger(sent, outcome)
