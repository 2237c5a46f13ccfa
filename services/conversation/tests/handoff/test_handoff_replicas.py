"""A handoff across replicas and crashes: the user's and the person's messages keep one order,
and a kill -9 mid-forward loses and doubles nothing."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from chatbot_sandbox.chatwoot.records import ChatwootFault

from .helpers import HANDED, context_of, desk_settings, handed_off


async def test_user_and_person_messages_keep_one_order_across_two_replicas(
    chat: Any, start_service: Any
) -> None:
    chat.sandbox.store.chatwoot_faults.append(ChatwootFault(delay=0.05, times=1000))
    async with start_service(**desk_settings(chat)), start_service(**desk_settings(chat)):
        conversation = await handed_off(chat)
        last = 0
        for n in range(1, 5):
            await chat.send(f"u{n}")
            last = await chat.desk_event(
                f"chatwoot:message:{n}",
                desk="chatwoot",
                conversation=str(conversation.id),
                event="agent_message",
                body=f"a{n}",
            )
        await chat.answered(last)

    incoming = [m.content for m in conversation.messages if m.message_type == "incoming"]
    assert incoming == ["u1", "u2", "u3", "u4"]
    assert [m.body for m in chat.texts()] == [HANDED, "a1", "a2", "a3", "a4"]
    said = [text for _, text in context_of(chat)][2:]
    assert said == [
        line for n in range(1, 5) for line in (f"u{n}", f"[A person, from our team] a{n}")
    ]


async def test_kill_9_mid_forward_then_restart_forwards_once(
    chat: Any, service_process: Any
) -> None:
    settings = desk_settings(chat)
    process = service_process(
        INBOUND_ACK_WAIT="2",
        LEASE_TTL="1",
        **{name.upper(): _text(value) for name, value in settings.items()},
    )
    process.start()
    try:
        await process.ready(30)
        conversation = await handed_off(chat)
        # Recording the message in the model's context stalls: the desk has it, the turn is
        # not committed when the process dies.
        chat.fault("stall", seconds=5.0, endpoint="conversations")
        seq = await chat.send("my parcel is late")
        await chat.sandbox.store.openai_requests.wait_until(
            lambda records: any(
                r.endpoint == "conversations.items.create" and r.status_code is None
                for r in records
            ),
            timeout=10,
        )
        assert [m.content for m in conversation.messages][-1] == "my parcel is late"
        await process.kill()
        process = process.respawn()
        process.start()
        await process.ready(30)
        await chat.answered(seq, timeout=20)
    finally:
        await process.stop(10)

    incoming = [m.content for m in conversation.messages if m.message_type == "incoming"]
    assert incoming == ["my parcel is late"]
    assert [m.body for m in chat.texts()] == [HANDED]
    assert await chat.dead_letters() == []


def _text(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
