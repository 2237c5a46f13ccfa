"""Dead letters against a real JetStream: any payload can be given up, however large."""

from __future__ import annotations

from nats.aio.client import Client as NATS

from chatbot_common.contracts import DeadLetter, decode
from chatbot_common.dlq import MAX_ORIGINAL_BYTES, dead_letter
from chatbot_common.topology import DLQ, OUTBOUND, Consumer, provision

CONSUMER = Consumer(OUTBOUND, "test-dlq")


async def test_a_payload_near_the_nats_limit_is_dead_lettered_with_its_start_kept(
    nc: NATS,
) -> None:
    js = nc.jetstream()
    await provision(js, streams=(OUTBOUND, DLQ), consumers=(CONSUMER,), duplicate_window=3600)
    # Each undecodable byte becomes U+FFFD (three bytes): the whole would make a record of
    # 2.7 MB, which NATS refuses, and the message could never be given up.
    poison = b"\xff" * 900_000
    await js.publish(OUTBOUND.subject("k"), poison, headers={"Nats-Msg-Id": "poison"})
    (message,) = await (await js.pull_subscribe_bind(CONSUMER.durable, OUTBOUND.name)).fetch(1)

    await dead_letter(js, message, service="sender", reason="malformed", timeout=5)

    record = decode(DeadLetter, (await js.get_msg(DLQ.name, seq=1)).data or b"")
    assert record.original_payload == "\ufffd" * MAX_ORIGINAL_BYTES
    assert (record.original_size, record.original_id) == (900_000, "poison")


async def test_a_payload_within_the_limit_is_kept_whole(nc: NATS) -> None:
    js = nc.jetstream()
    await provision(js, streams=(OUTBOUND, DLQ), consumers=(CONSUMER,), duplicate_window=3600)
    await js.publish(OUTBOUND.subject("k"), b'{"v": 9}')
    (message,) = await (await js.pull_subscribe_bind(CONSUMER.durable, OUTBOUND.name)).fetch(1)

    await dead_letter(js, message, service="sender", reason="malformed", timeout=5)

    record = decode(DeadLetter, (await js.get_msg(DLQ.name, seq=1)).data or b"")
    assert (record.original_payload, record.original_size) == ('{"v": 9}', None)
