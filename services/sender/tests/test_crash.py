"""A sender stopped mid-reply: after a restart, no part twice and none missing.

kill -9 between two parts, and SIGTERM in the middle of a Twilio call that outlasts the drain.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_sandbox.stack import ManagedProcess, ProcessSpec, find_executable, free_port
from chatbot_sender.deliveries import Deliveries
from chatbot_sender.formatting import to_whatsapp
from chatbot_sender.splitting import split_text

if TYPE_CHECKING:
    from conftest import HarnessFactory


async def test_a_sender_killed_between_parts_sends_the_rest_once_after_restart(
    harness: HarnessFactory, tmp_path: Path
) -> None:
    paragraph = "Every part of this reply must arrive exactly once. " * 24
    body = "\n\n".join(f"{n}. {paragraph}" for n in range(3))
    expected = split_text(to_whatsapp(body))
    assert len(expected) == 3
    log = (tmp_path / "sender.log").open("a", buffering=1)
    async with harness() as h:
        port = free_port()
        # One message a second: after part 0 the sender waits ~1 s for part 1's token, and is
        # killed in that wait. The short ack wait brings the message back soon after the kill.
        spec = ProcessSpec(
            name="sender",
            argv=[find_executable("chatbot-sender")],
            env=h.environment(
                PORT=str(port),
                SEND_RATE_PER_SECOND="1",
                SEND_RATE_BURST="1",
                SEND_RATE_MAX_WAIT="2",
                TWILIO_TIMEOUT="1",
                NATS_PUBLISH_TIMEOUT="1",
                SEND_ACK_WAIT="2.5",
            ),
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        process = ManagedProcess(spec, lambda _, line: log.write(line + "\n"))
        process.start()
        try:
            await asyncio.to_thread(process.wait_ready, 30)
            message = h.outbound(h.user(900), body)
            kv = await h.deliveries()
            watcher = await kv.watch(Deliveries.key(message.idempotency_key, 0))
            await h.publish(message)
            await h.sandbox.store.twilio_messages.wait_for(1, timeout=15)
            async with asyncio.timeout(10):
                while (entry := await watcher.updates(timeout=10)) is None or not entry.value:
                    pass  # the watcher's "no more history" marker
            await asyncio.to_thread(process.kill)
            assert len(h.sandbox.store.twilio_messages) == 1

            process = process.respawn()
            await asyncio.to_thread(process.wait_ready, 30)
            await h.verdicts.acked(timeout=20)
        finally:
            await asyncio.to_thread(process.stop, 10)
            log.close()
        sent = h.sandbox.store.twilio_messages.snapshot()
    assert [record.body for record in sent] == expected


async def test_a_sender_stopped_mid_call_records_the_part_before_it_gives_the_reply_back(
    harness: HarnessFactory, tmp_path: Path
) -> None:
    log = (tmp_path / "sender.log").open("a", buffering=1)
    # Twilio answers after 2 s, the drain gives in-hand work 0.5 s: SIGTERM cuts the call.
    async with harness(twilio_latency=2.0) as h:
        port = free_port()
        spec = ProcessSpec(
            name="sender",
            argv=[find_executable("chatbot-sender")],
            env=h.environment(
                PORT=str(port),
                DRAIN_TIMEOUT="0.5",
                TWILIO_TIMEOUT="4",
                NATS_PUBLISH_TIMEOUT="1",
                SEND_ACK_WAIT="6",
            ),
            ready_url=f"http://127.0.0.1:{port}/readyz",
        )
        process = ManagedProcess(spec, lambda _, line: log.write(line + "\n"))
        process.start()
        try:
            await asyncio.to_thread(process.wait_ready, 30)
            await h.publish(h.outbound(h.user(901), "said once"))
            await h.verdicts.in_progress()
            await asyncio.to_thread(process.stop, 15)
            process = process.respawn()
            await asyncio.to_thread(process.wait_ready, 30)
            await h.verdicts.acked(timeout=20)
        finally:
            await asyncio.to_thread(process.stop, 10)
            log.close()
        sent = [record.body for record in h.sandbox.store.twilio_messages.snapshot()]
    assert sent == ["said once"]
