"""Twilio's side of a running stack: signed webhooks to ingress, what the fake Twilio sent, and
users' 24-hour windows."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from chatbot_sandbox.twilio import inbound

from .numbers import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, USER

__all__ = ["MESSAGES_ROUTE", "STATUS_ROUTE", "Twilio", "inbound_form", "signed"]

MESSAGES_ROUTE = "/twilio/messages"
STATUS_ROUTE = "/twilio/status"
_RETRIED = frozenset({503})
"""What ingress answers while it cannot take a message, and Twilio retries on."""


def inbound_form(
    body: str, *, user: str = USER, profile_name: str = "Ana", sid: str | None = None
) -> dict[str, str]:
    """The fields Twilio posts for an incoming WhatsApp text."""
    sid = sid or "SM" + uuid.uuid4().hex
    return inbound.inbound_form(
        sid=sid,
        account_sid=ACCOUNT_SID,
        user=user,
        to=BUSINESS_NUMBER,
        body=body,
        profile_name=profile_name,
    )


def signed(url: str, form: dict[str, str], auth_token: str = AUTH_TOKEN) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio would send for this form at this URL."""
    return inbound.signature(auth_token, url, form)


class Twilio:
    """Posts webhooks to ingress as Twilio does, reads the messages the fake Twilio took, and
    closes users' 24-hour windows there (a user's webhook opens theirs again, as on WhatsApp)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        ingress_url: str,
        sandbox_url: str,
        auth_token: str = AUTH_TOKEN,
    ) -> None:
        self.http = http
        self.ingress_url = ingress_url
        self.sandbox_url = sandbox_url
        self.auth_token = auth_token
        self._closed: set[str] = set()

    async def post(self, form: dict[str, str], path: str = MESSAGES_ROUTE) -> httpx.Response:
        """POST one signed webhook; ingress's answer."""
        if path == MESSAGES_ROUTE and form.get("From") in self._closed:
            await self.open_window(form["From"])
        url = self.ingress_url + path
        return await self.http.post(url, data=form, headers=signed(url, form, self.auth_token))

    async def deliver(
        self, form: dict[str, str], path: str = MESSAGES_ROUTE, *, timeout: float = 60.0
    ) -> None:
        """POST a signed webhook until ingress answers 200, retrying as Twilio does when the
        webhook URL asks it to (``#rc=5&rp=5xx``, the README's setup).

        A refused connection, a cut one and 503 are retried with the same MessageSid (without
        Twilio's bound on attempts); any other answer is an AssertionError.
        """
        wait = 0.05
        async with asyncio.timeout(timeout):
            while True:
                try:
                    answer = await self.post(form, path)
                except httpx.TransportError:
                    pass
                else:
                    if answer.status_code == 200:
                        return
                    assert answer.status_code in _RETRIED, answer.text
                await asyncio.sleep(wait)
                wait = min(0.5, wait * 2)

    async def sent_messages(
        self, *, at_least: int = 0, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The Messages creates the fake Twilio accepted, oldest first, once there are
        ``at_least`` (the sandbox holds the request until then, or ``timeout`` seconds)."""
        answer = await self.http.get(
            f"{self.sandbox_url}/_sandbox/twilio/messages",
            params={"min_count": at_least, "timeout": timeout},
            timeout=timeout + 5,
        )
        answer.raise_for_status()
        messages: list[dict[str, Any]] = answer.json()
        return messages

    async def close_window(self, to: str = USER) -> None:
        """Close a user's 24-hour window: a free-form message to them is reported ``failed`` with
        63016; a template goes through."""
        await self._window({"to": to, "open": False})
        self._closed.add(to)

    async def open_window(self, to: str = USER) -> None:
        """Open a user's 24-hour window again (a webhook from them posted here does too)."""
        await self._window({"to": to, "open": True})
        self._closed.discard(to)

    async def _window(self, window: dict[str, Any]) -> None:
        answer = await self.http.post(f"{self.sandbox_url}/_sandbox/twilio/windows", json=window)
        answer.raise_for_status()
