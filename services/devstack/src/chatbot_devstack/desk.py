"""The person's side of the sandbox's fake Chatwoot: conversations, replies, status changes."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["Desk"]


class Desk:
    """An agent at the sandbox's Chatwoot (its ``/_sandbox/chatwoot`` endpoints)."""

    def __init__(self, http: httpx.AsyncClient, *, sandbox_url: str) -> None:
        self._http = http
        self._base = f"{sandbox_url}/_sandbox/chatwoot"

    async def conversations(self) -> list[dict[str, Any]]:
        """Every conversation with its messages, oldest first."""
        answer = await self._http.get(f"{self._base}/conversations")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found

    async def reply(self, conversation: int, content: str, agent: str = "Agent Smith") -> None:
        """The agent's public reply; the desk's signed ``message_created`` webhook follows."""
        body = {"content": content, "agent_name": agent}
        answer = await self._http.post(
            f"{self._base}/conversations/{conversation}/reply", json=body
        )
        answer.raise_for_status()

    async def set_status(self, conversation: int, status: str) -> None:
        """``resolved`` or ``pending`` hands the user back to the bot."""
        path = f"{self._base}/conversations/{conversation}/status"
        answer = await self._http.post(path, json={"status": status})
        answer.raise_for_status()
