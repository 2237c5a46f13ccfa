"""An operator's erase (a user's right to be forgotten), as a turn in the user's own order: what
this service and the places it writes to hold of the user, deleted store by store, and the
report kept for the console (docs/console.md, *Erase*)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from chatbot_common.contracts import DeadLetter
from chatbot_common.dlq_records import dead_letters
from chatbot_common.topology import DLQ, EVENTS, INBOUND, OUTBOUND

from .handoff.desk import Desk, DeskUser
from .handoff.waiting import HandoffIndex
from .lease import Lease
from .llm import Backend
from .mailbox import FromDesk
from .outcome import TurnOutcome
from .state import ConversationState

__all__ = ["Erasure", "request_key"]

log = logging.getLogger(__name__)


def request_key(request: str) -> str:
    """The CHAT_REQUESTS key of an operator's request id (``operator:<hex>``)."""
    return request.rpartition(":")[2]


class Erasure:
    """Deletes a user's data wherever this service knows it is, and reports per store."""

    def __init__(
        self,
        js: JetStreamContext,
        requests: KeyValue,
        backend: Backend,
        *,
        desk: Desk | None,
        handoffs: HandoffIndex | None,
    ) -> None:
        self._js = js
        self._requests = requests
        self._backend = backend
        self._desk = desk
        self._handoffs = handoffs

    async def erase(self, lease: Lease, item: FromDesk, state: ConversationState) -> TurnOutcome:
        """Each step is tried whatever the others did; the state is deleted after the commit."""
        key = lease.key
        report: dict[str, str] = {}

        async def step(store: str, work: Callable[[], Awaitable[str]]) -> None:
            try:
                report[store] = await work()
            except Exception as error:  # reported, and the other steps go on
                log.warning("erase: %s failed (%s)", store, type(error).__name__)
                report[store] = f"failed: {type(error).__name__}"

        await step("openai_conversation", lambda: self._backend.forget(state.conversation_id))
        if self._desk is not None and state.address is not None:
            desk, number = self._desk, state.address.user.removeprefix("whatsapp:")
            user = DeskUser(key, wa_id=number.removeprefix("+"), phone=number, name="")
            await step("desk_contact", lambda: desk.forget(user))
        if self._handoffs is not None:
            handoffs = self._handoffs
            await step("CHAT_HANDOFFS", lambda: _done(handoffs.remove(key)))
        # The user's own subject up to this request: what they sent after it is answered.
        inbound = INBOUND.subject(key)
        await step("CHAT_INBOUND", lambda: self._purge(INBOUND.name, inbound, below=item.seq + 1))
        await step("CHAT_OUTBOUND", lambda: self._purge(OUTBOUND.name, OUTBOUND.subject(key)))
        await step("CHAT_EVENTS", lambda: self._purge(EVENTS.name, f"{EVENTS.prefix}.*.{key}"))
        await step("CHAT_DLQ", lambda: self._dead_letters(key))
        report["CHAT_CONVERSATIONS"] = "deleted"
        await self._requests.put(request_key(item.event.delivery_id), json.dumps(report).encode())
        log.info("erased", extra={"user_key": key})
        return TurnOutcome(ConversationState(last_seq=item.seq), "erased", forget=True)

    async def _purge(self, stream: str, subject: str, *, below: int | None = None) -> str:
        try:
            await self._js.purge_stream(stream, subject=subject, seq=below)
        except NotFoundError:  # no such stream here: it holds nothing
            return "none"
        return "purged"

    async def _dead_letters(self, key: str) -> str:
        subjects = {INBOUND.subject(key), OUTBOUND.subject(key)}
        held = [
            seq
            async for seq, record in dead_letters(self._js)
            if isinstance(record, DeadLetter) and record.original_subject in subjects
        ]
        for seq in held:
            await self._js.delete_msg(DLQ.name, seq)
        return f"deleted {len(held)}"


async def _done(work: Awaitable[None]) -> str:
    await work
    return "deleted"
