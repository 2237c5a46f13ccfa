"""The generic webhook desk: our own signed JSON to any helpdesk (docs/handoff.md, *The generic
webhook desk*)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from ..retry import RetryPolicy
from .desk import DeskUser, Forwarded
from .retrying import checked, retried

__all__ = ["WebhookDesk", "signature"]


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``X-Chatbot-Signature`` of ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookDesk:
    """Posts a handoff's events to one URL, each signed and with an ``Idempotency-Key``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        url: str,
        secret: str,
        policy: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self._session = session
        self._url = url
        self._secret = secret.encode()
        self._policy = policy
        self._rng = rng

    async def open(self, user: DeskUser, note: str, *, ref: str) -> str:
        """Announce the handoff; its conversation id is ``ref`` (ours, stable on a re-run)."""
        contact = {"name": user.name, "phone": user.phone, "wa_id": user.wa_id}
        await self._post(f"{ref}:opened", {
            "event": "handoff.opened", "conversation": ref, "user": user.user_key,
            "contact": contact, "note": note,
        })  # fmt: skip
        return ref

    async def forward(
        self, conversation: str, messages: Sequence[Forwarded], *, again: bool
    ) -> int:
        """Post each message; the desk drops a repeat (``again`` or not) by its
        ``Idempotency-Key``."""
        for message in messages:
            files = [
                {"content_type": f.content_type, "data": base64.b64encode(f.data).decode()}
                for f in message.files
            ]
            await self._post(f"{conversation}:{message.message_id}", {
                "event": "message", "conversation": conversation,
                "message_id": message.message_id, "text": message.text, "attachments": files,
            })  # fmt: skip
        return len(messages)

    async def forget(self, user: DeskUser) -> str:
        """Tell the desk to delete what it keeps of the user."""
        await self._post(f"{user.user_key}:erased", {"event": "user.erased", "user": user.user_key})
        return "asked"

    async def close(self, conversation: str, note: str) -> None:
        await self._post(f"{conversation}:closed", {
            "event": "handoff.closed", "conversation": conversation, "note": note,
        })  # fmt: skip

    async def _post(self, key: str, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        what = f"POST {event['event']}"

        async def attempt() -> None:
            timestamp = str(int(time.time()))  # signed afresh: a late retry is not stale
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                "X-Chatbot-Timestamp": timestamp,
                "X-Chatbot-Signature": signature(self._secret, timestamp, body),
            }
            async with self._session.post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                checked(answer, what)

        await retried(attempt, what, policy=self._policy, rng=self._rng)
