"""Forgetting a user: an erase request purges that user's CHAT_DELIVERIES keys and no others."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import TYPE_CHECKING, Any, cast

import pytest
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from chatbot_common.topology import SENDER_ERASE
from chatbot_sender.erasure import serving_erasures

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from conftest import HarnessFactory


async def erase(nc: NATS, payload: str) -> dict[str, Any]:
    """The console's request; asked again while the server reports no responders yet.

    Even after the sender's subscription is flushed, a request from another connection now
    and then meets no responders for some milliseconds; a caller should retry likewise.
    """
    async with asyncio.timeout(5):
        while True:
            try:
                reply = await nc.request(SENDER_ERASE, payload.encode(), timeout=5)
            except NoRespondersError:
                await asyncio.sleep(0.02)
                continue
            return cast(dict[str, Any], json.loads(reply.data))


async def live(kv: KeyValue, keys: set[str]) -> set[str]:
    """Those of ``keys`` the bucket holds a value for (``kv.keys`` can miss some: its watch)."""
    found = set()
    for key in keys:
        with contextlib.suppress(KeyNotFoundError):
            await kv.get(key)
            found.add(key)
    return found


async def test_an_erase_purges_every_key_of_that_user_and_only_those(
    harness: HarnessFactory,
) -> None:
    forgotten, kept = uuid.uuid4().hex, uuid.uuid4().hex
    async with harness() as h, h.sender():
        kv = await h.deliveries()
        for key in (f"{forgotten}.1.0", f"{forgotten}.2.0", f"{forgotten}.2.1"):
            await kv.put(key, b"SM" + uuid.uuid4().hex.encode())
        await kv.put(f"progress.{forgotten}", b"7")
        await kv.put(f"{forgotten}.3.0", b"")
        await kv.delete(f"{forgotten}.3.0")  # already deleted: not counted
        mine = {f"{forgotten}.{n}" for n in ("1.0", "2.0", "2.1", "3.0")}
        mine.add(f"progress.{forgotten}")
        theirs = {f"{kept}.1.0", f"{kept}.1.1", f"progress.{kept}"}
        for key in theirs:
            await kv.put(key, b"x")

        assert await erase(h.nc, forgotten) == {"deleted": 4}

        assert await live(kv, mine | theirs) == theirs
        for key in mine:
            assert all(not entry.value for entry in await kv.history(key))
        assert await erase(h.nc, forgotten) == {"deleted": 0}
        assert await live(kv, mine | theirs) == theirs


@pytest.mark.parametrize(
    "payload",
    ["", "not-a-key", "A" * 32, "a" * 31, "a" * 33, "whatsapp:+15550000001", "a" * 32 + ".>"],
)
async def test_anything_but_a_user_key_is_refused(harness: HarnessFactory, payload: str) -> None:
    async with harness() as h, h.sender():
        assert await erase(h.nc, payload) == {"error": "not a user key"}


class BrokenStream:
    async def stream_info(self, *_: object, **__: object) -> None:
        raise ConnectionResetError("stream unreachable")


async def test_a_failed_erase_replies_the_error_type_and_is_logged(
    nc: NATS, caplog: pytest.LogCaptureFixture
) -> None:
    user_key = uuid.uuid4().hex
    async with serving_erasures(nc, cast(JetStreamContext, BrokenStream()), cast(KeyValue, None)):
        assert await erase(nc, user_key) == {"error": "ConnectionResetError"}
    assert any(
        record.message == "erase failed" and getattr(record, "user_key", None) == user_key
        for record in caplog.records
    )
