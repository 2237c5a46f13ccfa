"""The record of every part Twilio accepted, in the CHAT_DELIVERIES KV bucket.

The key is ``<idempotency key>.<part index>`` (the idempotency key is ``<user key>.<seq>``, no
phone number) and the value the Twilio message SID. A part is recorded as soon as Twilio has
accepted it, before the next part is sent and before its OutboundMessage is acked, so a
redelivery skips it.
"""

from __future__ import annotations

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

__all__ = ["Deliveries"]


class Deliveries:
    """Which parts of which replies were already accepted by Twilio."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @staticmethod
    def key(idempotency_key: str, part: int) -> str:
        """The KV key of one part."""
        return f"{idempotency_key}.{part}"

    async def sent_sid(self, idempotency_key: str, part: int) -> str | None:
        """The Twilio SID of a part already sent, or ``None``."""
        try:
            entry = await self._kv.get(self.key(idempotency_key, part))
        except KeyNotFoundError:
            return None
        return (entry.value or b"").decode() or None

    async def record(self, idempotency_key: str, part: int, sid: str) -> None:
        """Remember that Twilio accepted ``part`` as message ``sid``."""
        await self._kv.put(self.key(idempotency_key, part), sid.encode())
