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
    messages = "conversations/1/messages"
    assert (await http.get(f"{ACCOUNT}/1/{messages}")).status_code == 401
    wrong = await http.get(f"{ACCOUNT}/1/{messages}", headers={"api_access_token": "x"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid Access Token"})
    other = await http.get(
        f"{ACCOUNT}/2/{messages}", headers={"api_access_token": "sandbox-chatwoot-token"}
    )
    assert other.json() == {"error": "You are not authorized to access this account"}
    unknown = await api.get(f"/{messages}")
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    recorded = (await http.get("/_sandbox/chatwoot/requests")).json()
    assert [(r["method"], r["status_code"]) for r in recorded] == [("GET", 401)] * 3 + [
        ("GET", 404)
    ]
    assert recorded[2]["path"] == f"{ACCOUNT}/2/{messages}"


async def test_a_contact_is_created_and_found_by_its_source_id(api: httpx.AsyncClient) -> None:
    body = {"name": "Ann", "phone_number": "+15550001111", "identifier": "wa-1"}
    created = await api.post("/contacts", json=body | {"inbox_id": 1, "source_id": "s-1"})
    contact = created.json()["payload"]["contact"]
    assert created.json()["payload"]["contact_inbox"] == {"source_id": "s-1"}
    assert contact == {"id": 1, **body}
    found = await api.post("/contact_inboxes/filter", json={"inbox_id": 1, "source_id": "s-1"})
    assert found.json() == contact
    missing = await api.post("/contact_inboxes/filter", json={"inbox_id": 1, "source_id": "s-2"})
    assert (missing.status_code, missing.content) == (404, b"")
    other_inbox = await api.post("/contact_inboxes/filter", json={"inbox_id": 9, "source_id": "s"})
    assert (other_inbox.status_code, other_inbox.json()) == (404, NOT_FOUND)
    again = await api.post("/contacts", json={"name": "Cy", "inbox_id": 1, "source_id": "s-1"})
    assert (again.status_code, again.json()) == (422, {"error": "source_id should be unique"})


async def test_a_conversation_is_created_and_resolved(
    api: httpx.AsyncClient, open_conversation: Opener
) -> None:
    first = await open_conversation(api)
    assert first["meta"]["sender"] | {"id": 0} == {
        "id": 0,
        "name": "Ann",
        "phone_number": "+15550001111",
        "identifier": None,
    }
    assert (first["id"], first["status"], first["custom_attributes"]) == (1, "open", {})
    assert first["timestamp"] == first["last_activity_at"]
    resolved = await api.post("/conversations/1/toggle_status", json={"status": "resolved"})
    assert resolved.json() == {
        "meta": {},
        "payload": {"success": True, "conversation_id": 1, "current_status": "resolved"},
    }
    stranger = await api.post("/conversations", json={"contact_id": 9, "inbox_id": 1})
    assert (stranger.status_code, stranger.json()) == (404, NOT_FOUND)
    bo = {"name": "Bo", "inbox_id": 1, "source_id": "+15550002222"}
    bo_id = (await api.post("/contacts", json=bo)).json()["payload"]["contact"]["id"]
    taken = {"contact_id": bo_id, "inbox_id": 1, "source_id": "+15550001111"}
    refused = await api.post("/conversations", json=taken)
    assert (refused.status_code, refused.json()) == (422, {"error": "source_id should be unique"})


async def test_messages_are_created_from_json_and_multipart_and_listed(
    api: httpx.AsyncClient, open_conversation: Opener
) -> None:
    await open_conversation(api)
    user = await api.post(
        "/conversations/1/messages",
        json={"content": "hi", "message_type": "incoming", "source_id": "SM1"},
    )
    note = {"content": "vip", "message_type": "outgoing", "private": True}
    noted = await api.post("/conversations/1/messages", json=note)
    assert (user.json()["message_type"], user.json()["source_id"]) == (0, "SM1")
    assert user.json()["sender"]["name"] == "Ann"
    assert noted.json() | {"created_at": 0} == {
        "id": 2,
        "content": "vip",
        "conversation_id": 1,
        "message_type": 1,
        "created_at": 0,
        "private": True,
        "source_id": None,
        "sender": {"id": 2, "name": "Chatbot Integration", "type": "user"},
    }
    photo = await api.post(
        "/conversations/1/messages",
        data={"content": "look", "message_type": "incoming", "source_id": "SM2"},
        files=[
            ("attachments[]", ("cat.png", b"\x89PNG", "image/png")),
            ("attachments[]", ("a.ogg", b"OggS", "audio/ogg")),
        ],
    )
    assert (photo.json()["message_type"], photo.json()["private"]) == (0, False)
    image, voice = photo.json()["attachments"]
    assert image | {"data_url": ""} == {
        "id": 1,
        "message_id": 3,
        "file_type": "image",
        "data_url": "",
    }
    assert voice["file_type"] == "audio"
    async with httpx.AsyncClient() as anyone:
        downloaded = await anyone.get(image["data_url"])
    assert (downloaded.content, downloaded.headers["content-type"]) == (b"\x89PNG", "image/png")
    listed = (await api.get("/conversations/1/messages")).json()
    assert [m["source_id"] for m in listed["payload"]] == ["SM1", None, "SM2"]


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
    gone = await api.get(f"/conversations/{ann['id']}/messages")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)
    assert list(sandbox.store.chatwoot.conversations) == [bo["id"]]
    assert sandbox.store.chatwoot.attachments == {}
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
    resolve = {"status": "resolved"}
    assert (await api.post("/conversations/1/toggle_status", json=resolve)).status_code == 200
    for _ in range(2):
        limited = await api.get("/conversations/1/messages")
        assert (limited.status_code, limited.text) == (429, "Retry later\n")
        assert limited.headers["content-type"].startswith("text/plain")
    assert (await api.get("/conversations/1/messages")).status_code == 200
    await http.post("/_sandbox/chatwoot/faults", json={"status": 503, "delay": 0.2})
    started = time.monotonic()
    broken = await api.get("/conversations/1/messages", headers={"api_access_token": "wrong"})
    assert time.monotonic() - started >= 0.2
    assert broken.json() == {"status": 503, "error": "Service Unavailable"}
    assert sandbox.store.chatwoot_faults == []
