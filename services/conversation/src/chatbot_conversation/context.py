"""Adding to the model's context what was said outside a model turn: by a person at the desk,
by the business (outreach), or as a notice."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .lease import Lease
from .llm import Backend, ModelContext, Said
from .outcome import Afterwards
from .retry import ModelCallError
from .state import ConversationState

__all__ = ["recording"]

log = logging.getLogger(__name__)


def recording(backend: Backend, lease: Lease, said: Sequence[Said]) -> Afterwards:
    """What adds ``said`` to the model's context once the turn's message is out.

    It never fails the turn: the context is a courtesy, the messages themselves went
    through. A conversation made for it is kept all the same (remembered in the lease).
    """

    async def record(state: ConversationState) -> ConversationState:
        try:
            conversation_id, history = await backend.record(
                user_key=lease.key,
                said=said,
                context=ModelContext(
                    state.conversation_id, state.history, lease.remember_conversation
                ),
            )
        except ModelCallError as error:
            log.warning("context not recorded (%s)", error, extra={"user_key": lease.key})
            return state.model_copy(update={"conversation_id": lease.state.conversation_id})
        return state.model_copy(update={"conversation_id": conversation_id, "history": history})

    return record
