"""The inbox's webhooks, received by a bare HTTP server that checks their signatures, and the
sandbox's agent side that makes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from chatbot_devstack.embedded import RunningSandbox

Opener = Callable[..., Awaitable[dict[str, Any]]]
SANDBOX = "/_sandbox/chatwoot/conversations"


async def test_message_created_is_signed_and_shows_each_sender(
    hooked: RunningSandbox, hooked_api: httpx.AsyncClient, receiver: Any, open_conversation: Opener
) -> None:
    await open_conversation(hooked_api)
    incoming = {"content": "hi", "message_type": "incoming", "source_id": "SM1"}
    await hooked_api.post("/conversations/1/messages", json=incoming)
    [event] = await receiver.next_events(1)
    conversation = event.pop("conversation")
    assert event | {"sender": {}} == {
        "event": "message_created",
        "id": 1,
        "content": "hi",
        "message_type": "incoming",
        "private": False,
        "sender": {},
    }
    assert "type" not in event["sender"]
    assert (event["sender"]["id"], event["sender"]["phone_number"]) == (1, "+15550001111")
    assert (conversation["id"], conversation["status"]) == (1, "open")

    async with httpx.AsyncClient(base_url=hooked.base_url) as http:
        await http.post(f"{SANDBOX}/1/reply", json={"content": "Agent here", "agent_name": "Kim"})
    note = {"content": "vip", "message_type": "outgoing", "private": True}
    await hooked_api.post("/conversations/1/messages", json=note)
    reply, noted = await receiver.next_events(2)
    assert (reply["message_type"], reply["private"], noted["private"]) == ("outgoing", False, True)
    assert reply["sender"] == {"id": 1, "name": "Kim", "type": "user"}
    assert noted["sender"] == {"id": 2, "name": "Chatbot Integration", "type": "user"}
    deliveries = await _deliveries(hooked, 3)
    assert [(d["event"], d["response_status"]) for d in deliveries] == [
        ("message_created", 200)
    ] * 3


async def _deliveries(sandbox: RunningSandbox, count: int) -> Any:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        params = {"min_count": count, "timeout": 5}
        return (await http.get("/_sandbox/chatwoot/webhooks", params=params)).json()


async def test_status_changes_and_a_reopening_incoming_message(
    hooked: RunningSandbox, hooked_api: httpx.AsyncClient, receiver: Any, open_conversation: Opener
) -> None:
    await open_conversation(hooked_api)
    await hooked_api.post("/conversations/1/toggle_status", json={"status": "resolved"})
    changed, updated = await receiver.next_events(2)
    assert (changed["event"], changed["id"], changed["status"]) == (
        "conversation_status_changed",
        1,
        "resolved",
    )
    assert updated["event"] == "conversation_updated"  # ingress ignores it, as Chatwoot sends it
    assert updated["changed_attributes"] == [
        {"status": {"previous_value": "open", "current_value": "resolved"}}
    ]
    await hooked_api.post(
        "/conversations/1/toggle_status", json={"status": "resolved"}
    )  # no change
    incoming = {"content": "back", "message_type": "incoming"}
    assert (await hooked_api.post("/conversations/1/messages", json=incoming)).status_code == 200
    reopened, _, created = await receiver.next_events(3)
    assert (reopened["event"], reopened["status"]) == ("conversation_status_changed", "open")
    assert (created["event"], created["conversation"]["status"]) == ("message_created", "open")
    async with httpx.AsyncClient(base_url=hooked.base_url) as http:
        pending = await http.post(f"{SANDBOX}/1/status", json={"status": "pending"})
        assert pending.json()["status"] == "pending"
        [listed] = (await http.get(SANDBOX)).json()
    assert [m["content"] for m in listed["messages"]] == ["back"]
    pended, _ = await receiver.next_events(2)
    assert (pended["event"], pended["status"]) == ("conversation_status_changed", "pending")


async def test_a_delivery_is_tried_once_and_recorded(
    hooked: RunningSandbox, hooked_api: httpx.AsyncClient, receiver: Any, open_conversation: Opener
) -> None:
    receiver.status = 500
    await open_conversation(hooked_api)
    await hooked_api.post("/conversations/1/messages", json={"content": "one"})
    await receiver.next_events(1)
    [delivery] = await _deliveries(hooked, 1)
    assert (delivery["event"], delivery["response_status"], delivery["error"]) == (
        "message_created",
        500,
        None,
    )
    assert receiver.posts.empty()


@pytest.mark.parametrize("url", [None, "http://127.0.0.1:9/closed"])
async def test_without_a_reachable_url(
    start_sandbox: Callable[..., Any], open_conversation: Opener, url: str | None
) -> None:
    async with start_sandbox(chatwoot_webhook_url=url) as sandbox:
        async with httpx.AsyncClient(
            base_url=f"{sandbox.base_url}/api/v1/accounts/1",
            headers={"api_access_token": "sandbox-chatwoot-token"},
        ) as api:
            await open_conversation(api)
            assert (
                await api.post("/conversations/1/messages", json={"content": "x"})
            ).status_code == 200
        if url is None:
            assert len(sandbox.store.chatwoot_webhooks) == 0
        else:
            [delivery] = await sandbox.store.chatwoot_webhooks.wait_for(1, 5)
            assert (delivery.response_status, delivery.error) == (None, "ConnectError")
