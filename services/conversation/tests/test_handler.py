"""The delivery handler's choice of what a turn answers, and the range it records as pending.

These drive the real handler against a real nats-server (state, mailbox, lease) and stop at the
turn: a recording runner stands in for :class:`~chatbot_conversation.turns.TurnRunner`, so the
range written with the lease can be compared with the segment the turn was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from nats.aio.msg import Msg

from chatbot_common.topology import INBOUND
from chatbot_conversation.handler import TurnHandler
from chatbot_conversation.lease import Lease
from chatbot_conversation.mailbox import Inbound, Mailbox
from chatbot_conversation.state import SeqRange, StateStore
from chatbot_conversation.turns import Stopwatch

from .conftest import Chat, service_settings


@dataclass
class RecordingRunner:
    """Keeps what each turn would have answered, and the pending range its lease recorded."""

    store: StateStore
    turns: list[tuple[SeqRange | None, list[int], list[int]]] = field(default_factory=list)

    async def run(
        self,
        lease: Lease,
        segment: list[Inbound],
        rest: list[Inbound],
        deliveries: list[Msg],
        *,
        recovering: bool,
        watch: Stopwatch,
    ) -> None:
        stored = await self.store.load(lease.key)
        self.turns.append(
            (stored.state.pending, [item.seq for item in segment], [item.seq for item in rest])
        )


class UnreadableRange(Mailbox):
    """A mailbox whose reads of a bounded range fail, as when NATS stops answering."""

    async def read(
        self, key: str, *, after: int, through: int | None = None, limit: int | None = None
    ) -> list[Inbound]:
        if through is not None:
            raise TimeoutError("no answer from NATS")
        return await super().read(key, after=after, through=through, limit=limit)


async def handle_last_delivery(
    chat: Chat, nats_server: Any, sandbox: Any, mailbox: type[Mailbox] = Mailbox
) -> RecordingRunner:
    """Run the handler, coalescing off, on the delivery of the user's latest message."""
    settings = service_settings(sandbox, nats_server.url)
    runner = RecordingRunner(StateStore(chat.kv))
    handler = TurnHandler(
        js=chat.js,
        store=runner.store,
        mailbox=mailbox(chat.js, coalesce_window=0.0),
        turns=runner,  # type: ignore[arg-type]
        settings=settings,
    )
    subscription = await chat.js.pull_subscribe(INBOUND.subject(chat.key()), stream=INBOUND.name)
    deliveries = await subscription.fetch(len(chat.sids), timeout=5)
    await handler(deliveries[-1])
    return runner


async def test_a_backlog_ending_with_this_message_is_one_turn_pending_as_read(
    chat: Chat, nats_server: Any, sandbox: Any
) -> None:
    first = await chat.send("one")
    last = await chat.send("two")

    runner = await handle_last_delivery(chat, nats_server, sandbox)

    ((pending, segment, rest),) = runner.turns
    assert (segment, rest) == ([first, last], [])
    assert pending is not None
    assert pending.last == last
    assert pending.first <= first


async def test_a_command_in_the_backlog_narrows_the_pending_range_to_the_first_turn(
    chat: Chat, nats_server: Any, sandbox: Any
) -> None:
    """Whoever recovers a pending range answers it as one turn: it must not hold the command."""
    first = await chat.send("one")
    command = await chat.send("/help")
    last = await chat.send("two")

    runner = await handle_last_delivery(chat, nats_server, sandbox)

    assert runner.turns == [(SeqRange(first=first, last=first), [first], [command, last])]


async def test_a_lease_taken_for_a_range_that_cannot_be_read_is_handed_over_at_once(
    chat: Chat, nats_server: Any, sandbox: Any
) -> None:
    """Released with its range still pending, not held until it expires."""
    seq = await chat.send("one")

    with pytest.raises(TimeoutError):
        await handle_last_delivery(chat, nats_server, sandbox, mailbox=UnreadableRange)

    state = await chat.state()
    assert state.lease is None
    assert state.pending is not None
    assert state.pending.last == seq
