"""Chatwoot's application API, the subset a handoff uses (docs/handoff.md): the user's
contact, a conversation, and the messages and notes posted to it."""

from __future__ import annotations

import mimetypes
import random
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from ..retry import RetryPolicy
from .desk import DeskUser, Forwarded
from .retrying import checked, retried

__all__ = ["ChatwootDesk"]


class ChatwootDesk:
    """One account's API-channel inbox, reached with an access token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        account_id: int,
        inbox_id: int,
        token: str,
        policy: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self._session = session
        self._api = f"{base_url.rstrip('/')}/api/v1/accounts/{account_id}"
        self._inbox = inbox_id
        self._headers = {"api_access_token": token}
        self._policy = policy
        self._rng = rng

    async def open(self, user: DeskUser, note: str, *, ref: str) -> str:
        """Open a conversation for ``user`` (their contact found or made), with ``note`` as a
        private note; its id (Chatwoot makes it: ``ref`` is not needed)."""
        found = await self._call("POST", "/contact_inboxes/filter", {
            "inbox_id": self._inbox, "source_id": user.wa_id,
        }, missing_ok=True)  # fmt: skip
        if found is None:
            made = await self._call("POST", "/contacts", {
                "inbox_id": self._inbox, "source_id": user.wa_id, "name": user.name,
                "phone_number": user.phone, "identifier": user.user_key,
            })  # fmt: skip
            contact_id = made["payload"]["contact"]["id"]
        else:
            contact_id = found["id"]
        conversation = await self._call("POST", "/conversations", {
            "source_id": user.wa_id, "inbox_id": self._inbox, "contact_id": contact_id,
            "status": "open", "custom_attributes": {"chatbot_user": user.user_key},
        })  # fmt: skip
        conversation_id = str(conversation["id"])
        await self.note(conversation_id, note)
        return conversation_id

    async def note(self, conversation_id: str, text: str) -> None:
        """A private note, for the agents' eyes only."""
        body = {"content": text, "message_type": "outgoing", "private": True}
        await self._call("POST", f"/conversations/{conversation_id}/messages", body)

    async def close(self, conversation: str, note: str) -> None:
        """Resolve the conversation, with ``note`` saying why (we handed the user back)."""
        await self.note(conversation, note)
        path = f"/conversations/{conversation}/toggle_status"
        await self._call("POST", path, {"status": "resolved"})

    async def forget(self, user: DeskUser) -> str:
        """Delete the user's contact (Chatwoot deletes its conversations with it)."""
        found = await self._call("POST", "/contact_inboxes/filter", {
            "inbox_id": self._inbox, "source_id": user.wa_id,
        }, missing_ok=True)  # fmt: skip
        if found is None:
            return "none"
        await self._call("DELETE", f"/contacts/{found['id']}", None, empty=True)
        return "deleted"

    async def forward(
        self, conversation: str, messages: Sequence[Forwarded], *, again: bool
    ) -> int:
        """Post the user's messages in order, their attachments as files; on a re-run
        (``again``), skip those the conversation already has. How many posted."""
        path = f"/conversations/{conversation}/messages"
        seen: set[str] = set()
        if again:  # only then can it hold any: the listing is the whole conversation
            listed = await self._call("GET", path, None)
            seen = {message.get("source_id") for message in listed.get("payload", [])}
        posted = 0
        for message in messages:
            if message.message_id in seen:
                continue
            body = {
                "content": message.text,
                "message_type": "incoming",
                "source_id": message.message_id,
            }
            if message.files:
                await self._call("POST", path, None, form=_with_files(body, message))
            else:
                await self._call("POST", path, body)
            posted += 1
        return posted

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        form: Callable[[], aiohttp.FormData] | None = None,
        missing_ok: bool = False,
        empty: bool = False,
    ) -> Any:
        """One request, retried; ``form`` makes a multipart body afresh for each attempt;
        ``empty``: the answer has no body to read."""

        async def attempt() -> Any:
            async with self._session.request(
                method,
                self._api + path,
                json=body,
                data=form() if form is not None else None,
                headers=self._headers,
            ) as answer:
                if answer.status == 404 and missing_ok:
                    return None
                checked(answer, f"{method} {path}")
                return None if empty else await answer.json()

        return await retried(attempt, f"{method} {path}", policy=self._policy, rng=self._rng)


def _with_files(fields: dict[str, str], message: Forwarded) -> Callable[[], aiohttp.FormData]:
    """A multipart body of ``fields`` and the message's files as ``attachments[]``."""

    def form() -> aiohttp.FormData:
        data = aiohttp.FormData()
        for name, value in fields.items():
            data.add_field(name, value)
        for index, file in enumerate(message.files, start=1):
            extension = mimetypes.guess_extension(file.content_type) or ""
            data.add_field(
                "attachments[]",
                file.data,
                filename=f"{message.message_id}-{index}{extension}",
                content_type=file.content_type,
            )
        return data

    return form
