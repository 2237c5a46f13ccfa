"""The fake Chatwoot's API over real HTTP: auth, contacts, conversations, messages, faults."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from chatbot_devstack.embedded import RunningSandbox

Opener = Callable[..., Awaitable[dict[str, Any]]]
ACCOUNT = "/api/v1/accounts"
NOT_FOUND = {"error": "Resource could not be found"}


async def test_the_token_and_the_account_are_checked(
    sandbox: RunningSandbox, http: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    assert (await http.get(f"{ACCOUNT}/1/conversations/1")).status_code == 401
    wrong = await http.get(f"{ACCOUNT}/1/conversations/1", headers={"api_access_token": "x"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid Access Token"})
    other = await http.get(
        f"{ACCOUNT}/2/conversations/1", headers={"api_access_token": "sandbox-chatwoot-token"}
    )
    assert other.json() == {"error": "You are not authorized to access this account"}
    unknown = await api.get("/conversations/7")
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    recorded = (await http.get("/_sandbox/chatwoot/requests")).json()
    assert [(r["method"], r["status_code"]) for r in recorded] == [("GET", 401)] * 3 + [
        ("GET", 404)
    ]
    assert recorded[2]["path"] == f"{ACCOUNT}/2/conversations/1"


async def test_a_contact_is_created_and_found_by_its_source_id(api: httpx.AsyncClient) -> None:
    body = {"name": "Ann", "phone_number": "+15550001111", "identifier": "wa-1"}
    created = await api.post("/contacts", json=body | {"inbox_id": 1, "source_id": "s-1"})
    contact = created.json()["payload"]["contact"]
    inbox = {"id": 1, "name": "Sandbox WhatsApp", "channel_type": "Channel::Api"}
    assert contact["contact_inboxes"] == [{"source_id": "s-1", "inbox": inbox}]
    assert created.json()["payload"]["contact_inbox"] == {"inbox": inbox, "source_id": "s-1"}
    assert contact | {"created_at": 0} == {
        "additional_attributes": {},
        "availability_status": "offline",
        "email": None,
        "id": 1,
        "name": "Ann",
        "phone_number": "+15550001111",
        "blocked": False,
        "identifier": "wa-1",
        "thumbnail": "",
        "custom_attributes": {},
        "created_at": 0,
        "contact_inboxes": contact["contact_inboxes"],
    }
    assert abs(contact["created_at"] - time.time()) < 60
    found = await api.post("/contact_inboxes/filter", json={"inbox_id": 1, "source_id": "s-1"})
    assert found.json() == contact
    missing = await api.post("/contact_inboxes/filter", json={"inbox_id": 1, "source_id": "s-2"})
    assert (missing.status_code, missing.content) == (404, b"")
    other_inbox = await api.post("/contact_inboxes/filter", json={"inbox_id": 9, "source_id": "s"})
    assert (other_inbox.status_code, other_inbox.json()) == (404, NOT_FOUND)
    again = await api.post("/contacts", json={"name": "Cy", "inbox_id": 1, "source_id": "s-1"})
    assert (again.status_code, again.json()) == (422, {"error": "source_id should be unique"})
    bare = (await api.post("/contacts", json={"name": "Bo"})).json()["payload"]
    assert bare["contact_inbox"] == {"inbox": None, "source_id": None}
    assert (bare["contact"]["id"], bare["contact"]["contact_inboxes"]) == (2, [])


async def test_contacts_are_validated_like_chatwoots_model(api: httpx.AsyncClient) -> None:
    local = await api.post("/contacts", json={"name": "Ann", "phone_number": "0555 0001111"})
    assert (local.status_code, local.json()) == (
        422,
        {"message": "Phone number should be in e164 format", "attributes": ["phone_number"]},
    )
    body = {"name": "Ann", "phone_number": "+15550001111", "identifier": "wa-1"}
    assert (await api.post("/contacts", json=body)).status_code == 200
    again = await api.post("/contacts", json=body)
    assert again.json() == {
        "message": "Phone number has already been taken, Identifier has already been taken",
        "attributes": ["phone_number", "identifier"],
    }


async def test_a_conversation_is_created_shown_and_toggled(
    api: httpx.AsyncClient, open_conversation: Opener
) -> None:
    first = await open_conversation(api)
    assert first["meta"] == {
        "sender": first["meta"]["sender"] | {"name": "Ann", "phone_number": "+15550001111"},
        "channel": "Channel::Api",
        "assignee": None,
        "hmac_verified": False,
    }
    assert (first["id"], first["account_id"], first["inbox_id"]) == (1, 1, 1)
    assert (first["status"], first["messages"], first["labels"], first["unread_count"]) == (
        "open",
        [],
        [],
        0,
    )
    assert first["timestamp"] == first["last_activity_at"] == first["created_at"]
    by_source = await api.post(
        "/conversations", json={"source_id": "+15550001111", "status": "pending"}
    )
    assert (by_source.json()["id"], by_source.json()["status"]) == (2, "pending")
    assert (await api.get("/conversations/1")).json() == first
    resolved = await api.post("/conversations/1/toggle_status", json={"status": "resolved"})
    assert resolved.json() == {
        "meta": {},
        "payload": {
            "success": True,
            "conversation_id": 1,
            "current_status": "resolved",
            "snoozed_until": None,
        },
    }
    toggled = await api.post("/conversations/1/toggle_status")
    assert toggled.json()["payload"]["current_status"] == "open"
    odd = await api.post("/conversations/1/toggle_status", json={"status": "closed"})
    assert (odd.status_code, odd.json()) == (422, {"error": "'closed' is not a valid status"})
    orphan = await api.post("/conversations", json={"source_id": "nobody", "inbox_id": 1})
    assert (orphan.status_code, orphan.json()) == (404, NOT_FOUND)
    stranger = await api.post("/conversations", json={"contact_id": 9, "inbox_id": 1})
    assert stranger.status_code == 404
    bo = (await api.post("/contacts", json={"name": "Bo"})).json()["payload"]["contact"]
    taken = {"contact_id": bo["id"], "inbox_id": 1, "source_id": "+15550001111"}
    refused = await api.post("/conversations", json=taken)
    assert (refused.status_code, refused.json()) == (422, {"error": "source_id should be unique"})
    own = await api.post("/conversations", json=taken | {"source_id": None})
    assert own.json()["id"] == 3  # a new contact inbox, its source id a uuid


async def test_messages_are_created_from_json_and_multipart_and_listed(
    api: httpx.AsyncClient, open_conversation: Opener
) -> None:
    await open_conversation(api)
    user = await api.post(
        "/conversations/1/messages",
        json={"content": "hi", "message_type": "incoming", "source_id": "SM1"},
    )
    reply = await api.post("/conversations/1/messages", json={"content": "hello"})
    note = await api.post("/conversations/1/messages", json={"content": "vip", "private": True})
    assert user.json()["message_type"] == 0
    assert (user.json()["source_id"], user.json()["sender"]["type"]) == ("SM1", "contact")
    assert reply.json() | {"created_at": 0} == {
        "id": 2,
        "content": "hello",
        "inbox_id": 1,
        "conversation_id": 1,
        "message_type": 1,
        "content_type": "text",
        "status": "sent",
        "content_attributes": {},
        "created_at": 0,
        "private": False,
        "source_id": None,
        "sender": reply.json()["sender"],
    }
    assert reply.json()["sender"]["type"] == "user"
    assert note.json()["private"] is True
    photo = await api.post(
        "/conversations/1/messages",
        data={"content": "look", "message_type": "incoming", "private": "false"},
        files=[
            ("attachments[]", ("cat.png", b"\x89PNG", "image/png")),
            ("attachments[]", ("a.ogg", b"OggS", "audio/ogg")),
        ],
    )
    assert (photo.json()["message_type"], photo.json()["private"]) == (0, False)
    image, voice = photo.json()["attachments"]
    assert image | {"data_url": "", "thumb_url": ""} == {
        "id": 1,
        "message_id": 4,
        "file_type": "image",
        "account_id": 1,
        "extension": None,
        "data_url": "",
        "thumb_url": "",
        "file_size": 4,
    }
    assert (voice["file_type"], voice["thumb_url"]) == ("audio", "")
    async with httpx.AsyncClient() as anyone:
        downloaded = await anyone.get(image["data_url"])
    assert (downloaded.content, downloaded.headers["content-type"]) == (b"\x89PNG", "image/png")
    listed = (await api.get("/conversations/1/messages")).json()
    assert [m["content"] for m in listed["payload"]] == ["hi", "hello", "vip", "look"]
    assert listed["meta"]["contact"]["type"] == "contact"
    shown = (await api.get("/conversations/1")).json()
    assert [m["content"] for m in shown["messages"]] == ["look"]
    assert shown["unread_count"] == 2
    odd = await api.post("/conversations/1/messages", json={"content": "x", "message_type": "y"})
    assert (odd.status_code, odd.json()) == (422, {"error": "'y' is not a valid message_type"})
    many = [("attachments[]", (f"{n}.txt", b"x", "text/plain")) for n in range(16)]
    too_many = await api.post("/conversations/1/messages", data={"content": "x"}, files=many)
    assert too_many.status_code == 422


async def test_deleting_a_contact_deletes_its_conversations(
    sandbox: RunningSandbox,
    http: httpx.AsyncClient,
    api: httpx.AsyncClient,
    open_conversation: Opener,
) -> None:
    ann = await open_conversation(api)
    bo = await open_conversation(api, "+15550002222")
    await api.post(
        f"/conversations/{ann['id']}/messages",
        data={"content": "look", "message_type": "incoming"},
        files=[("attachments[]", ("cat.png", b"\x89PNG", "image/png"))],
    )
    contact_id = ann["meta"]["sender"]["id"]
    await http.post("/_sandbox/chatwoot/faults", json={"status": 503, "path": "/contacts/"})
    assert (await api.delete(f"/contacts/{contact_id}")).status_code == 503

    deleted = await api.delete(f"/contacts/{contact_id}")

    assert (deleted.status_code, deleted.content) == (200, b"")
    lookup = {"inbox_id": 1, "source_id": "+15550001111"}
    found = await api.post("/contact_inboxes/filter", json=lookup)
    assert (found.status_code, found.content) == (404, b"")
    gone = await api.get(f"/conversations/{ann['id']}")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)
    assert list(sandbox.store.chatwoot.conversations) == [bo["id"]]
    assert sandbox.store.chatwoot.attachments == {}
    assert (await api.get(f"/conversations/{bo['id']}")).status_code == 200
    again = await api.delete(f"/contacts/{contact_id}")
    assert (again.status_code, again.json()) == (404, NOT_FOUND)
    recorded = (await http.get("/_sandbox/chatwoot/requests")).json()
    deletes = [r for r in recorded if r["method"] == "DELETE"]
    assert [(r["path"], r["status_code"]) for r in deletes] == [
        (f"{ACCOUNT}/1/contacts/{contact_id}", 503),
        (f"{ACCOUNT}/1/contacts/{contact_id}", 200),
        (f"{ACCOUNT}/1/contacts/{contact_id}", 404),
    ]


async def test_faults_hit_the_api_requests_they_match(
    sandbox: RunningSandbox,
    http: httpx.AsyncClient,
    api: httpx.AsyncClient,
    open_conversation: Opener,
) -> None:
    await open_conversation(api)
    throttle = {"status": 429, "times": 2, "path": "/messages"}
    assert (await http.post("/_sandbox/chatwoot/faults", json=throttle)).status_code == 201
    assert (await api.get("/conversations/1")).status_code == 200  # another path
    for _ in range(2):
        limited = await api.post("/conversations/1/messages", json={"content": "x"})
        assert (limited.status_code, limited.text) == (429, "Retry later\n")
        assert limited.headers["content-type"].startswith("text/plain")
    assert (await api.post("/conversations/1/messages", json={"content": "x"})).status_code == 200
    await http.post("/_sandbox/chatwoot/faults", json={"status": 503, "delay": 0.2})
    started = time.monotonic()
    broken = await api.get("/conversations/1", headers={"api_access_token": "wrong"})
    assert time.monotonic() - started >= 0.2
    assert broken.json() == {"status": 503, "error": "Service Unavailable"}
    assert sandbox.store.chatwoot_faults == []
    refused = await http.post("/_sandbox/chatwoot/faults", json={"status": 404})
    assert refused.status_code == 422
