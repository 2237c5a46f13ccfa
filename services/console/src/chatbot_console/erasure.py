"""An erase, as the console asks for it: the conversation service deletes its part in the
user's order and reports; then the sender deletes its records (docs/console.md, *Erase*)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from chatbot_common.topology import SENDER_ERASE

from .actions import Actions
from .auth import Operator

__all__ = ["Erased", "Eraser"]

log = logging.getLogger(__name__)

_SENDER_PATIENCE = 5.0
"""Seconds an erase keeps asking the sender."""
_SENDER_RETRY = 0.1


class Erased(BaseModel):
    """What an erase came to: per store, ``deleted``, ``purged``, ``none``, ``asked`` or
    ``failed: <why>``; ``done`` once the conversation service has reported."""

    request: str
    user_key: str
    done: bool
    stores: dict[str, str]


class Eraser:
    """Asks for an erase and gathers its report."""

    def __init__(
        self, nc: NATS, requests: KeyValue, actions: Actions, *, wait: float, timeout: float
    ) -> None:
        self._nc = nc
        self._requests = requests
        self._actions = actions
        self._wait = wait
        self._timeout = timeout

    async def erase(self, who: Operator, key: str) -> Erased:
        """Ask, wait up to ``wait`` seconds for the conversation service's report, then ask the
        sender; ``done`` is false when the report did not come in time (ask again later: an
        erase of an erased user deletes nothing and harms nothing)."""
        request = await self._actions.ask(who, key, "erase")
        stores = await self._report(request.rpartition(":")[2])
        if stores is None:
            return Erased(request=request, user_key=key, done=False, stores={})
        stores["CHAT_DELIVERIES"] = await self._sender(key)
        return Erased(request=request, user_key=key, done=True, stores=stores)

    async def _report(self, request_key: str) -> dict[str, str] | None:
        watcher = await self._requests.watch(request_key)
        try:
            async with asyncio.timeout(self._wait):
                async for entry in watcher:
                    if entry is not None and entry.value:
                        report: dict[str, str] = json.loads(entry.value)
                        return report
        except TimeoutError:
            return None
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return None

    async def _sender(self, key: str) -> str:
        """Ask the sender; a replica that is (re)subscribing may miss a request: ask again,
        for a few seconds."""
        reply = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_SENDER_PATIENCE):
                while reply is None:
                    try:
                        reply = await self._nc.request(
                            SENDER_ERASE, key.encode(), timeout=self._timeout
                        )
                    except (NatsTimeoutError, NoRespondersError):
                        await asyncio.sleep(_SENDER_RETRY)
        if reply is None:
            return "failed: no sender answered (erase again)"
        answer = json.loads(reply.data or b"{}")
        if "deleted" in answer:
            return f"deleted {answer['deleted']}"
        return f"failed: {answer.get('error', 'no answer')}"
