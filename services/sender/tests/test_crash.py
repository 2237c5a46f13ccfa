"""A sender stopped mid-reply: after a restart, no part twice and none missing.

kill -9 between two parts, and SIGTERM in the middle of a Twilio call that outlasts the drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_devstack import ManagedProcess, ProcessSpec, find_executable, free_port
from chatbot_sender.deliveries import Deliveries
from chatbot_sender.formatting import to_whatsapp
from chatbot_sender.splitting import split_text

if TYPE_CHECKING:
    from conftest import Harness, HarnessFactory


class SenderProcess:
    """A ``chatbot-sender`` process that a test kills, stops and starts again."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process

    async def restart(self) -> None:
        self.process = self.process.respawn()
        self.process.start()
        await self.process.ready(30)


@asynccontextmanager
async def sender_process(h: Harness, log: Path, **environment: str) -> AsyncIterator[SenderProcess]:
    """A real sender on the harness's NATS and sandbox, logging to ``log``, stopped at the end."""
    port = free_port()
    with log.open("a", buffering=1) as out:
        spec = ProcessSpec(
            name="sender",
            argv=[find_executable("chatbot-sender")],
            env=h.environment(PORT=str(port), **environment),
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        sender = SenderProcess(ManagedProcess(spec, lambda _, line: out.write(line + "\n")))
        sender.process.start()
        try:
            await sender.process.ready(30)
            yield sender
        finally:
            await sender.process.stop(10)


async def test_a_sender_killed_between_parts_sends_the_rest_once_after_restart(
    harness: HarnessFactory, tmp_path: Path
) -> None:
    paragraph = "Every part of this reply must arrive exactly once. " * 24
    body = "\n\n".join(f"{n}. {paragraph}" for n in range(3))
    expected = split_text(to_whatsapp(body))
    assert len(expected) == 3
    async with harness() as h:
        # One message a second: after part 0 the sender waits ~1 s for part 1's token, and is
        # killed in that wait. The short ack wait brings the message back soon after the kill.
        async with sender_process(
            h,
            tmp_path / "sender.log",
            SEND_RATE_PER_SECOND="1",
            SEND_RATE_BURST="1",
            SEND_RATE_MAX_WAIT="2",
            TWILIO_TIMEOUT="1",
            NATS_PUBLISH_TIMEOUT="1",
            SEND_ACK_WAIT="2.5",
        ) as sender:
            message = h.outbound(h.user(900), body)
            kv = await h.deliveries()
            watcher = await kv.watch(Deliveries.key(message.idempotency_key, 0))
            await h.publish(message)
            await h.sandbox.store.twilio_messages.wait_for(1, timeout=15)
            async with asyncio.timeout(10):
                while (entry := await watcher.updates(timeout=10)) is None or not entry.value:
                    pass  # the watcher's "no more history" marker
            await sender.process.kill()
            assert len(h.sandbox.store.twilio_messages) == 1

            await sender.restart()
            await h.verdicts.acked(timeout=20)
        sent = h.sandbox.store.twilio_messages.snapshot()
    assert [record.body for record in sent] == expected


async def test_a_sender_stopped_mid_call_records_the_part_before_it_gives_the_reply_back(
    harness: HarnessFactory, tmp_path: Path
) -> None:
    # Twilio answers after 2 s, the drain gives in-hand work 0.5 s: SIGTERM cuts the call.
    async with harness(twilio_latency=2.0) as h:
        async with sender_process(
            h,
            tmp_path / "sender.log",
            DRAIN_TIMEOUT="0.5",
            TWILIO_TIMEOUT="4",
            NATS_PUBLISH_TIMEOUT="1",
            SEND_ACK_WAIT="6",
        ) as sender:
            await h.publish(h.outbound(h.user(901), "said once"))
            await h.verdicts.in_progress()
            await sender.process.stop(15)
            await sender.restart()
            await h.verdicts.acked(timeout=20)
        sent = [record.body for record in h.sandbox.store.twilio_messages.snapshot()]
    assert sent == ["said once"]
