"""Everything a turn publishes: the typing request, the reply, and dead letters.

A reply's ``Nats-Msg-Id`` is its idempotency key (``<user_key>.<first seq>-<last seq>``), so a
range answered again is dropped by JetStream; every message is cut to fit the server's max
payload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from chatbot_common.bus import MSG_ID_HEADER, publish
from chatbot_common.contracts import DeadLetter, OutboundMessage, encode
from chatbot_common.dlq import kept_payload, publish_dead_letter
from chatbot_common.topology import INBOUND, OUTBOUND

from .mailbox import Entry, Inbound
from .replies import capped
from .state import Address

__all__ = ["DEFAULT_MAX_PAYLOAD", "SERVICE", "Outbox", "reply_key"]

SERVICE = "conversation"

DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""nats-server's default max_payload, for an outbox not told the connection's."""
_HEADROOM = 4096
"""Bytes left for a publish's headers (Nats-Msg-Id, trace context): they count against the
server's max payload too."""
_BYTES_PER_CHAR = 6
"""The most bytes one character of a body takes in the JSON encoding (a ``\\u00XX`` escape)."""
_BYTES_PER_SID = 64
_ENVELOPE = 2048


def reply_key(key: str, segment: Sequence[Entry]) -> str:
    """The idempotency key of the answer to ``segment``."""
    return f"{key}.{segment[0].seq}-{segment[-1].seq}"


class Outbox:
    """Publishes to CHAT_OUTBOUND and CHAT_DLQ, each publish awaited to its PubAck."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        timeout: float,
        max_payload: Callable[[], int] = lambda: DEFAULT_MAX_PAYLOAD,
    ) -> None:
        """``max_payload`` says the connected server's (``nc.max_payload``), read per publish:
        a reconnect may reach a server with another."""
        self._js = js
        self._timeout = timeout
        self._max_payload = max_payload

    async def send(self, key: str, message: OutboundMessage) -> None:
        message = self.fitting(message)
        await publish(
            self._js,
            OUTBOUND.subject(key),
            message,
            msg_id=message.idempotency_key,
            timeout=self._timeout,
        )

    def fitting(self, message: OutboundMessage) -> OutboundMessage:
        """``message``, its body cut short if its encoding would exceed the max payload."""
        limit = self._max_payload() - _HEADROOM
        bound = (
            _BYTES_PER_CHAR * len(message.body)
            + _BYTES_PER_SID * len(message.in_reply_to)
            + _ENVELOPE
        )
        if bound <= limit:  # the common case, told without encoding
            return message
        for _ in range(3):
            excess = len(encode(message)) - limit
            if excess <= 0:
                break
            # Each character cut takes at least one byte off the encoding.
            body = capped(message.body, max(1, len(message.body) - excess))
            message = message.model_copy(update={"body": body})
        return message

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

    def to_user(
        self,
        key: str,
        segment: Sequence[Entry],
        address: Address,
        body: str,
        media_urls: tuple[str, ...] = (),
    ) -> OutboundMessage:
        """A message to the user that answers none of theirs: a person's, or a notice."""
        return OutboundMessage(
            kind="media" if media_urls else "text",
            to=address.user,
            from_=address.business,
            body=body,
            media_urls=media_urls,
            idempotency_key=reply_key(key, segment),
        )

    async def already_sent(self, key: str, idempotency_key: str) -> bool:
        """Whether the user's latest outbound message is the one with ``idempotency_key``."""
        try:
            last = await self._js.get_last_msg(OUTBOUND.name, OUTBOUND.subject(key))
        except NotFoundError:
            return False
        return (last.headers or {}).get(MSG_ID_HEADER) == idempotency_key

    async def dead_letters(
        self, segment: Sequence[Entry], *, reason: str, error_code: str, attempts: int
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
