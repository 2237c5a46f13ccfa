"""What operators change, asked of the owner in the user's own order, and the audit stream.

A reset or a hand-back is published on the user's ``chat.inbound`` subject as a ``DeskEvent``
from the operator: the conversation service, which owns the user's state, takes it as a turn
after the messages the user sent before it (docs/console.md, *Ownership*).
"""

from __future__ import annotations

import uuid
from typing import Literal

from nats.js import JetStreamContext

from chatbot_common.bus import publish
from chatbot_common.contracts import AuditEvent, DeskEvent, utcnow
from chatbot_common.topology import AUDIT, INBOUND

from .auth import Operator
from .metrics import ACTIONS

__all__ = ["Actions", "Asked"]

type Asked = Literal["reset", "handoff", "handback", "erase"]
"""What an operator may ask about a user (the conversation service does it)."""


class Actions:
    """Publishes operators' requests and their audit events, each awaited to its PubAck."""

    def __init__(self, js: JetStreamContext, *, timeout: float) -> None:
        self._js = js
        self._timeout = timeout

    async def audit(
        self, who: Operator, action: str, *, user_key: str | None = None, target: str | None = None
    ) -> None:
        """Record what ``who`` did, with the user's key (never their number)."""
        ACTIONS.labels(action).inc()
        event = AuditEvent(operator=who.name, action=action, user_key=user_key, target=target)
        await publish(
            self._js, AUDIT.subject(action), event, msg_id=uuid.uuid4().hex, timeout=self._timeout
        )

    async def ask(self, who: Operator, key: str, event: Asked) -> str:
        """Ask the conversation service for ``event`` in the user's order; the request's id."""
        request = f"operator:{uuid.uuid4().hex}"
        asked = DeskEvent(
            desk="operator",
            event=event,
            delivery_id=request,
            received_at=utcnow(),
        )
        await publish(self._js, INBOUND.subject(key), asked, msg_id=request, timeout=self._timeout)
        await self.audit(who, event, user_key=key, target=request)
        return request
