"""An operator's erase, as a turn in the user's order: their OpenAI Conversation, desk contact,
handoff entry, subjects in the streams, dead letters and state are deleted, each store is
reported, and a message after it starts from nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.js.errors import KeyNotFoundError, NotFoundError

from chatbot_common.bus import publish
from chatbot_common.contracts import DeadLetter
from chatbot_common.topology import DLQ, HANDOFFS_BUCKET, INBOUND, OUTBOUND, REQUESTS_BUCKET

from .helpers import desk_settings, handed_off


async def report_of(chat: Any, request: str) -> dict[str, str]:
    """The erase's report, once the conversation service has written it."""
    requests = await chat.js.key_value(REQUESTS_BUCKET.name)
    watcher = await requests.watch(request)
    try:
        async with asyncio.timeout(10):
            async for entry in watcher:
                if entry is not None and entry.value:
                    report: dict[str, str] = json.loads(entry.value)
                    return report
    finally:
        await watcher.stop()
    raise AssertionError("no report")


async def deleted(kv: Any, key: str) -> None:
    """Return once ``key``'s latest entry is a delete."""
    watcher = await kv.watch(key)
    try:
        async with asyncio.timeout(10):
            async for entry in watcher:
                if entry is not None and entry.operation in ("DEL", "PURGE"):
                    return
    finally:
        await watcher.stop()


async def nothing_on(chat: Any, stream: str, subject: str) -> bool:
    try:
        await chat.js.get_msg(stream, seq=1, subject=subject, next=True)
    except NotFoundError:
        return True
    return False


async def test_an_erase_deletes_what_is_held_of_the_user_and_a_new_message_starts_afresh(
    chat: Any, start_service: Any
) -> None:
    key = chat.key()
    async with start_service(**desk_settings(chat)):
        await chat.answered(await chat.send("my name is Ana"))
        conversation = await handed_off(chat)
        letter = DeadLetter(
            service="conversation",
            reason="desk_unavailable",
            attempts=1,
            original_subject=INBOUND.subject(key),
            original_payload="{}",
        )
        await publish(chat.js, DLQ.subject("conversation"), letter, msg_id="dlq-ana", timeout=5)
        (openai_conversation,) = chat.sandbox.store.conversations
        erase = await chat.desk_event("operator:0a1b2c", desk="operator", event="erase")
        report = await report_of(chat, "0a1b2c")
        handoffs = await chat.js.key_value(HANDOFFS_BUCKET.name)

        assert report == {
            "openai_conversation": "deleted",
            "desk_contact": "deleted",
            "CHAT_HANDOFFS": "deleted",
            "CHAT_INBOUND": "purged",
            "CHAT_OUTBOUND": "purged",
            "CHAT_EVENTS": "none",  # no such stream in this test
            "CHAT_DLQ": "deleted 1",
            "CHAT_CONVERSATIONS": "deleted",
        }
        assert openai_conversation not in chat.sandbox.store.conversations
        assert conversation.id not in chat.sandbox.store.chatwoot.conversations
        assert await nothing_on(chat, INBOUND.name, INBOUND.subject(key))
        assert await nothing_on(chat, OUTBOUND.name, OUTBOUND.subject(key))
        assert await chat.dead_letters() == []
        try:
            await handoffs.get(key)
            raise AssertionError("the handoff entry is still there")
        except KeyNotFoundError:
            pass
        await deleted(chat.kv, key)  # the state itself, once the erase is committed
        assert erase > 0

        seq = await chat.send("hello again")
        await chat.answered(seq)

    assert chat.texts()[-1].body == "Echo #1: hello again"  # a new conversation
    assert (await chat.state()).handoff is None
