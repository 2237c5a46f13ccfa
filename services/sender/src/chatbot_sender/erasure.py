"""Forgetting one user: delete what CHAT_DELIVERIES holds of a user key, on request.

The operators' console sends the user key as a core NATS request on ``SENDER_ERASE``; one
replica (queue group ``sender``) purges every ``<user_key>.>`` delivery record and
``progress.<user_key>``, and replies ``{"deleted": n}`` or ``{"error": "<type>"}``
(docs/sender.md, *Forgetting a user*).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from chatbot_common.kv import bucket_keys
from chatbot_common.topology import DELIVERIES_BUCKET, SENDER_ERASE
from chatbot_common.userkey import USER_KEY_LENGTH

from .progress import Progress

__all__ = ["QUEUE", "erase_user", "serving_erasures"]

QUEUE = "sender"
"""The queue group: one replica answers each request."""

_USER_KEY = re.compile(rf"[0-9a-f]{{{USER_KEY_LENGTH}}}")

log = logging.getLogger(__name__)


async def erase_user(js: JetStreamContext, kv: KeyValue, user_key: str) -> int:
    """Purge every live CHAT_DELIVERIES key of ``user_key``; return how many there were."""
    deleted = 0
    for pattern in (f"{user_key}.>", Progress.key(user_key)):
        for key in await bucket_keys(js, DELIVERIES_BUCKET, pattern):
            try:
                await kv.get(key)
            except KeyNotFoundError:
                continue  # already deleted or purged: only its marker is left
            await kv.purge(key)
            deleted += 1
    return deleted


@asynccontextmanager
async def serving_erasures(nc: NATS, js: JetStreamContext, kv: KeyValue) -> AsyncIterator[None]:
    """Answer erase requests on ``SENDER_ERASE`` for the duration of the block."""

    async def answer(msg: Msg) -> None:
        await msg.respond(json.dumps(await _erase(js, kv, msg.data)).encode())

    subscription = await nc.subscribe(SENDER_ERASE, queue=QUEUE, cb=answer)
    await nc.flush()  # the server has the subscription before the app reports ready
    try:
        yield
    finally:
        await subscription.unsubscribe()


async def _erase(js: JetStreamContext, kv: KeyValue, data: bytes) -> dict[str, int | str]:
    user_key = data.decode(errors="replace")
    if not _USER_KEY.fullmatch(user_key):
        log.warning("erase request refused: not a user key")  # the payload is never logged
        return {"error": "not a user key"}
    try:
        deleted = await erase_user(js, kv, user_key)
    except Exception as exc:
        log.exception("erase failed", extra={"user_key": user_key})
        return {"error": type(exc).__name__}
    log.info("user erased", extra={"user_key": user_key, "deleted": deleted})
    return {"deleted": deleted}
