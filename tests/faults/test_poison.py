"""Poison messages: payloads no reader can decode, published straight onto the streams.

Each lands on one user's subject of CHAT_INBOUND and of CHAT_OUTBOUND, ahead of a real message
from that user. Each must reach the dead-letter stream after one attempt (counted in the
services' metrics), and the user's real message must still be answered and sent.
"""

from __future__ import annotations

import json

import pytest

from chatbot_common.bus import MSG_ID_HEADER
from chatbot_common.topology import INBOUND, OUTBOUND
from chatbot_common.userkey import user_key
from chatbot_devstack import BUSINESS_NUMBER, inbound_form, user_number

from .conftest import SystemFactory
from .system import Sent, check_ledger

pytestmark = pytest.mark.e2e

POISONS = {
    "not-json": b"\xff\xfe{not json",
    "empty": b"",
    "not-an-object": b'["a", 1]',
    "unknown-version": json.dumps({"v": 2, "to": "whatsapp:+15550000001"}).encode(),
    "nested-too-deep": b"[" * 100_000,
    "near-max-payload": b"\xff" * 900_000,  # NATS takes up to 1 MB
}


async def test_poison_is_dead_lettered_once_and_blocks_none_of_the_users_messages(
    start_system: SystemFactory,
) -> None:
    user = user_number(1)
    async with start_system() as system:
        key = user_key(system.stack.env["USER_KEY_SECRET"], BUSINESS_NUMBER, user)
        for stream in (INBOUND, OUTBOUND):
            for name, payload in POISONS.items():
                headers = {MSG_ID_HEADER: f"poison-{name}"}
                await system.js.publish(stream.subject(key), payload, headers=headers)
        form = inbound_form("after the poison", user=user)
        await system.deliver(form)
        await system.settle()
        outcome = await system.outcome()
        counted = {
            service: await system.metric(
                service, "chatbot_dlq_messages_total", service=service, reason="malformed"
            )
            for service in ("conversation", "sender")
        }

    check_ledger({user: [Sent(user, form["MessageSid"], "after the poison")]}, outcome)
    letters = {(d.service, d.original_id): d for d in outcome.dead_letters}
    for service, stream in (("conversation", INBOUND), ("sender", OUTBOUND)):
        for name in POISONS:
            letter = letters[(service, f"poison-{name}")]
            assert (letter.reason, letter.attempts) == ("malformed", 1)
            assert letter.original_subject == stream.subject(key)
    assert counted == {"conversation": len(POISONS), "sender": len(POISONS)}
