"""Everything a turn publishes: the typing request, the reply, and dead letters.

A reply's ``Nats-Msg-Id`` is its idempotency key, ``<user_key>.<first seq>-<last seq>``: a
turn answering the same range again publishes the same id, and JetStream drops the repeat.
:meth:`Outbox.already_sent` lets a new lease holder see that the previous holder got as far as
publishing before it died, so the range is committed without asking the model again.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from chatbot_common.bus import MSG_ID_HEADER, publish
from chatbot_common.contracts import DeadLetter, OutboundMessage
from chatbot_common.dlq import kept_payload, publish_dead_letter
from chatbot_common.topology import INBOUND, OUTBOUND

from .mailbox import Inbound

__all__ = ["SERVICE", "Outbox", "reply_key"]

SERVICE = "conversation"


def reply_key(key: str, segment: Sequence[Inbound]) -> str:
    """The idempotency key of the answer to ``segment``."""
    return f"{key}.{segment[0].seq}-{segment[-1].seq}"


class Outbox:
    """Publishes to CHAT_OUTBOUND and CHAT_DLQ, each publish awaited to its PubAck."""

    def __init__(self, js: JetStreamContext, *, timeout: float) -> None:
        self._js = js
        self._timeout = timeout

    async def send(self, key: str, message: OutboundMessage) -> None:
        await publish(
            self._js,
            OUTBOUND.subject(key),
            message,
            msg_id=message.idempotency_key,
            timeout=self._timeout,
        )

    def typing(self, key: str, segment: Sequence[Inbound]) -> OutboundMessage:
        """A typing request for the turn answering ``segment`` (the sender may ignore it)."""
        last = segment[-1].message
        return OutboundMessage(
            kind="typing",
            to=last.from_,
            from_=last.to,
            in_reply_to=(last.message_sid,),
            idempotency_key=f"{reply_key(key, segment)}.typing",
            received_at=segment[0].message.received_at,
        )

    def text(self, key: str, segment: Sequence[Inbound], body: str) -> OutboundMessage:
        """The answer to ``segment``."""
        last = segment[-1].message
        return OutboundMessage(
            kind="text",
            to=last.from_,
            from_=last.to,
            body=body,
            in_reply_to=tuple(item.message.message_sid for item in segment),
            idempotency_key=reply_key(key, segment),
            received_at=segment[0].message.received_at,
        )

    async def already_sent(self, key: str, idempotency_key: str) -> bool:
        """Whether the user's latest outbound message is the one with ``idempotency_key``."""
        try:
            last = await self._js.get_last_msg(OUTBOUND.name, OUTBOUND.subject(key))
        except NotFoundError:
            return False
        return (last.headers or {}).get(MSG_ID_HEADER) == idempotency_key

    async def dead_letters(
        self, segment: Sequence[Inbound], *, reason: str, error_code: str, attempts: int
    ) -> None:
        """One dead letter per message of ``segment``, deduplicated by its stream sequence."""
        for item in segment:
            payload, size = kept_payload(item.data)
            record = DeadLetter(
                service=SERVICE,
                reason=reason,
                error_code=error_code,
                attempts=attempts,
                original_subject=item.subject,
                original_id=item.msg_id,
                original_payload=payload,
                original_size=size,
            )
            await publish_dead_letter(
                self._js, record, stream_id=f"{INBOUND.name}:{item.seq}", timeout=self._timeout
            )
