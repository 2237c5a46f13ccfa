"""The system under fault: the running stack, Twilio-like traffic, and what must come out.

A fault test breaks something while users write, waits until both durable consumers have nothing
left in hand, reads what came out (CHAT_OUTBOUND, CHAT_DLQ, CHAT_DELIVERIES, what the fake
Twilio accepted), and :func:`check_ledger` holds that against what was sent.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from chatbot_common.contracts import ContractError, DeadLetter, OutboundMessage, decode
from chatbot_common.topology import DELIVERIES_BUCKET, DLQ, INBOUND, OUTBOUND
from chatbot_conversation.replies import APOLOGY
from chatbot_devstack import LocalStack, StackDriver, inbound_form, poll, user_number

__all__ = [
    "FAST_RECOVERY",
    "Outcome",
    "Sent",
    "Summary",
    "System",
    "Traffic",
    "check_ledger",
]

FAST_RECOVERY = {
    # Crashed work comes back within seconds, not minutes: short leases and ack waits (each
    # still above what one step may take, as the settings require).
    "LEASE_TTL": "3",
    "INBOUND_ACK_WAIT": "4",
    "SEND_ACK_WAIT": "4",
    # A send refused again and again (the storms refuse 40%) waits 4 s at most, not a minute.
    "SEND_BACKOFF_MAX": "4",
    "TWILIO_TIMEOUT": "1.5",
    "NATS_PUBLISH_TIMEOUT": "2",
    "DRAIN_TIMEOUT": "3",
    "OPENAI_TIMEOUT": "2",
    "OPENAI_BACKOFF_INITIAL": "0.1",
    "OPENAI_BACKOFF_MAX": "1",
    # One reply per message makes the ledger simplest; batches still form during a turn.
    "COALESCE_WINDOW": "0",
    # 50 users share one business number: the per-number rate must not be the bottleneck.
    "SEND_RATE_PER_SECOND": "500",
    "SEND_RATE_BURST": "50",
    "SANDBOX_OPENAI_LATENCY": "0.02",
    "SANDBOX_STATUS_CALLBACKS": "false",
}
"""Settings every fault test starts with (a test may override any)."""

COPY_WINDOW = timedelta(seconds=2)
"""How long before a sender's kill Twilio may have accepted a part the sender never recorded
(the part's answer, its parsing and one KV write, on a busy machine)."""


@dataclass(frozen=True)
class Sent:
    """One message a user sent, as ingress took it."""

    user: str
    sid: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """What came out of a run, read once both consumers were idle."""

    replies: list[OutboundMessage]
    """Text replies in CHAT_OUTBOUND, in stream order (typing requests left out)."""
    dead_letters: list[DeadLetter]
    accepted: list[dict[str, Any]]
    """Messages the sandbox's Twilio accepted, oldest first."""
    recorded_sids: frozenset[str]
    """Twilio SIDs the sender recorded in CHAT_DELIVERIES."""


@dataclass
class Summary:
    """Counts of a run that passed :func:`check_ledger`, for a test's own expectations."""

    echoes: int = 0
    apologies: int = 0
    unrecorded_copies: int = 0
    conversation_dlq: Counter[str] = field(default_factory=Counter)
    sender_dlq: Counter[str] = field(default_factory=Counter)


async def stream_messages(js: JetStreamContext, stream: str) -> list[RawStreamMsg]:
    """Every message ``stream`` holds, in order."""
    try:
        state = (await js.stream_info(stream)).state
    except NotFoundError:
        return []
    found = []
    seq = state.first_seq
    while state.messages and seq <= state.last_seq:
        try:
            # The next message at or after seq: a stream can have gaps (a bucket's has).
            raw = await js.get_msg(stream, seq=seq, subject=">", next=True)
        except NotFoundError:
            break
        assert raw.seq is not None
        found.append(raw)
        seq = raw.seq + 1
    return found


class System(StackDriver):
    """The running stack, and what a fault test does to it and reads from it over NATS."""

    def __init__(self, stack: LocalStack, http: httpx.AsyncClient, nc: NATS) -> None:
        super().__init__(stack, http)
        self.nc = nc
        self.js = nc.jetstream()

    async def idle(self) -> bool:
        """Whether both consumers have nothing undelivered and nothing unacknowledged.

        The conversation is asked first: once it is idle its replies are all in CHAT_OUTBOUND
        (it acks after the PubAck), so the sender's counts read next already include them.
        """
        for stream, durable in ((INBOUND, "conversation"), (OUTBOUND, "sender")):
            try:
                info = await self.js.consumer_info(stream.name, durable, timeout=2)
            except (NotFoundError, TimeoutError):
                return False
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until everything sent so far is handled: both consumers idle, twice in a row."""

        async def twice() -> bool:
            return await self.idle() and await self.idle()

        await poll(twice, every=0.2, timeout=timeout)

    async def outcome(self) -> Outcome:
        """What came out; call after :meth:`settle`."""
        replies = []
        for raw in await stream_messages(self.js, OUTBOUND.name):
            try:
                message = decode(OutboundMessage, raw.data or b"")
            except ContractError:
                continue  # a poison message a test put there
            if message.kind != "typing":
                replies.append(message)
        letters = [
            decode(DeadLetter, raw.data or b"") for raw in await stream_messages(self.js, DLQ.name)
        ]
        return Outcome(
            replies=replies,
            dead_letters=letters,
            accepted=await self.sandbox_records("twilio/messages"),
            recorded_sids=await self._recorded_sids(),
        )

    async def _recorded_sids(self) -> frozenset[str]:
        # Read from the bucket's stream: the client's key listing (a watcher) can end early.
        stream = f"KV_{DELIVERIES_BUCKET.name}"
        return frozenset(
            (raw.data or b"").decode() for raw in await stream_messages(self.js, stream)
        )


class Traffic:
    """WhatsApp users writing at once: each user's messages in order, users interleaved.

    User ``u`` sends ``per_user`` messages ``u<u>m<i>`` (plus ``suffix(u, i)``), each delivered
    as Twilio would (:meth:`System.deliver`) before the next, with random pauses that spread the
    whole load over about ``duration`` seconds.
    """

    def __init__(
        self,
        system: System,
        rng: random.Random,
        *,
        users: int,
        per_user: int,
        duration: float,
        suffix: Mapping[tuple[int, int], str] | None = None,
    ) -> None:
        self._system = system
        self._suffix = suffix or {}
        self.sent: dict[str, list[Sent]] = {user_number(u): [] for u in range(users)}
        # Pauses are drawn up front, so the seed alone decides them.
        gap = duration / per_user
        self._pauses = {
            u: [rng.uniform(0, gap * 1.5) for _ in range(per_user)] for u in range(users)
        }

    @property
    def count(self) -> int:
        return sum(len(pauses) for pauses in self._pauses.values())

    async def run(self) -> dict[str, list[Sent]]:
        """Send everything; what was sent, per user, once ingress took it all."""
        async with asyncio.TaskGroup() as group:
            for number in self._pauses:
                group.create_task(self._user(number))
        return self.sent

    async def _user(self, number: int) -> None:
        user = user_number(number)
        for index, pause in enumerate(self._pauses[number]):
            await asyncio.sleep(pause)
            text = f"u{number}m{index}{self._suffix.get((number, index), '')}"
            form = inbound_form(text, user=user)
            await self._system.deliver(form)
            self.sent[user].append(Sent(user, form["MessageSid"], text))


def check_ledger(
    sent: Mapping[str, Sequence[Sent]],
    outcome: Outcome,
    *,
    sender_kills: Sequence[datetime] = (),
) -> Summary:
    """Hold what came out against what was sent; a summary when every rule holds.

    - The conversation answered every message exactly once, each user's in order: the
      ``in_reply_to`` lists of a user's replies, in stream order, are the user's messages.
    - A reply is the echo of exactly the messages it answers, or the apology; every message an
      apology answers has a conversation dead letter, and no other message has one.
    - Twilio accepted each user's replies once each and in order, except those the sender
      dead-lettered. The only extra copies allowed are of a part whose SID the sender never
      recorded and that Twilio accepted in the instant before a kill of the sender
      (``sender_kills``): the window between Twilio's answer and its record (docs/sender.md).
    """
    text_of = {message.sid: message.text for messages in sent.values() for message in messages}
    conversation_dlq = {
        letter.original_id: letter
        for letter in outcome.dead_letters
        if letter.service == "conversation"
    }
    sender_dlq = {
        letter.original_id: letter for letter in outcome.dead_letters if letter.service == "sender"
    }
    summary = Summary(
        conversation_dlq=Counter(letter.reason for letter in conversation_dlq.values()),
        sender_dlq=Counter(letter.reason for letter in sender_dlq.values()),
    )
    problems: list[str] = []
    for user, messages in sent.items():
        replies = [reply for reply in outcome.replies if reply.to == user]
        answered = [text_of.get(sid, sid) for reply in replies for sid in reply.in_reply_to]
        if answered != [message.text for message in messages]:
            problems.append(f"{user}: answered {answered}, sent {[m.text for m in messages]}")
        for reply in replies:
            if reply.body.startswith("Echo #"):
                echoed = reply.body.partition(": ")[2].split("\n")
                if echoed != [text_of.get(sid) for sid in reply.in_reply_to]:
                    problems.append(f"{user}: {reply.idempotency_key} echoes {echoed}")
                summary.echoes += 1
            elif reply.body == APOLOGY:
                if lost := [text_of.get(s) for s in reply.in_reply_to if s not in conversation_dlq]:
                    problems.append(f"{user}: apology without dead letters for {lost}")
                summary.apologies += 1
            else:
                problems.append(f"{user}: unexpected reply {reply.body!r}")
        expected = [r.body for r in replies if r.idempotency_key not in sender_dlq]
        accepted = [m for m in outcome.accepted if m["to"] == user]
        recorded = [m["body"] for m in accepted if m["sid"] in outcome.recorded_sids]
        copies = [m for m in accepted if m["sid"] not in outcome.recorded_sids]
        if recorded != expected:
            problems.append(f"{user}: Twilio accepted {recorded}, expected {expected}")
        for copy in copies:
            if copy["body"] not in expected or not _just_before_a_kill(copy, sender_kills):
                problems.append(f"{user}: sent and not recorded, not a crash's copy: {copy}")
        summary.unrecorded_copies += len(copies)
    apologised = {
        sid for reply in outcome.replies if reply.body == APOLOGY for sid in reply.in_reply_to
    }
    if unexplained := [text_of[sid] for sid in set(text_of) & set(conversation_dlq) - apologised]:
        problems.append(f"dead-lettered but not apologised for: {sorted(unexplained)}")
    assert not problems, "\n".join(problems[:20])
    return summary


def _just_before_a_kill(accepted: Mapping[str, Any], kills: Sequence[datetime]) -> bool:
    at = datetime.fromisoformat(accepted["received_at"])
    return any(kill - COPY_WINDOW <= at <= kill for kill in kills)
