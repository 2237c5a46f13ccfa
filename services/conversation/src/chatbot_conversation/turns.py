"""One turn: an inbound message in, the model's reply published, the state committed.

The order of the steps is what makes the guarantees: the reply is published (deduplicated by
its idempotency key) before the state records the sequence as answered, and the inbound message
is acked last. A crash anywhere means a redelivery, which either finds the sequence answered or
publishes the same reply id again, which JetStream drops.
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg

from chatbot_common.bus import publish
from chatbot_common.contracts import ContractError, InboundMessage, OutboundMessage, decode
from chatbot_common.dlq import dead_letter
from chatbot_common.runtime import NatsRuntime
from chatbot_common.topology import INBOUND, OUTBOUND

from .llm import ResponsesBackend
from .state import StateStore

__all__ = ["TurnHandler"]

log = logging.getLogger(__name__)

EMPTY_MESSAGE = "[The user sent a message without text.]"


class TurnHandler:
    """Handles deliveries of the CHAT_INBOUND consumer."""

    def __init__(
        self,
        runtime: NatsRuntime,
        store: StateStore,
        backend: ResponsesBackend,
        *,
        publish_timeout: float,
    ) -> None:
        self._js = runtime.js
        self._store = store
        self._backend = backend
        self._publish_timeout = publish_timeout

    async def __call__(self, msg: Msg) -> None:
        try:
            inbound = decode(InboundMessage, msg.data)
        except ContractError as exc:
            await dead_letter(
                self._js,
                msg,
                service="conversation",
                reason="malformed",
                error_code=str(exc)[:200],
                timeout=self._publish_timeout,
            )
            await msg.ack()
            return
        key = INBOUND.token(msg.subject)
        seq = msg.metadata.sequence.stream
        stored = await self._store.load(key)
        if seq <= stored.state.last_seq:
            log.info("already answered", extra={"user_key": key, "seq": seq})
            await msg.ack()
            return
        reply = await self._backend.reply(
            user_key=key,
            conversation_id=stored.state.conversation_id,
            text=inbound.body or EMPTY_MESSAGE,
        )
        outbound = OutboundMessage(
            kind="text",
            to=inbound.from_,
            from_=inbound.to,
            body=reply.text,
            in_reply_to=(inbound.message_sid,),
            idempotency_key=f"{key}.{seq}",
            received_at=inbound.received_at,
        )
        await publish(
            self._js,
            OUTBOUND.subject(key),
            outbound,
            msg_id=outbound.idempotency_key,
            timeout=self._publish_timeout,
        )
        await self._store.save(
            key,
            stored.state.model_copy(
                update={
                    "conversation_id": reply.conversation_id,
                    "last_seq": seq,
                    "turns": stored.state.turns + 1,
                }
            ),
            revision=stored.revision,
        )
        await msg.ack()
        log.info("turn done", extra={"user_key": key, "seq": seq})
