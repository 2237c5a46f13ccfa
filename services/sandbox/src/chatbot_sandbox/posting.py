"""What the fakes post to the services in the background (status callbacks, webhooks)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

import httpx

__all__ = ["BackgroundPoster"]


class BackgroundPoster:
    """Posting tasks over one client, opened in the event loop that uses it; ``stop`` ends them."""

    def __init__(self, *, connections: int = 16) -> None:
        self._limits = httpx.Limits(max_connections=connections)
        self._client: httpx.AsyncClient | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, limits=self._limits)
        return self._client

    def start(self, posting: Coroutine[object, object, None]) -> asyncio.Task[None]:
        """Run ``posting`` in the background."""
        task = asyncio.create_task(posting)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def stop(self) -> None:
        """Cancel the posts still under way and close the client."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
