"""The provisioner against a real nats-server: what the server lost is declared again."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StreamConfig
from nats.js.errors import APIError
from prometheus_client import REGISTRY

from chatbot_common.health import Readiness
from chatbot_common.provisioning import Provisioner, Topology, is_refusal
from chatbot_common.topology import CONVERSATIONS_BUCKET, INBOUND, Consumer

CONSUMER = Consumer(INBOUND, "test-provisioned")
TOPOLOGY = Topology(streams=(INBOUND,), consumers=(CONSUMER,), buckets=(CONVERSATIONS_BUCKET,))


def redeclared() -> float:
    return REGISTRY.get_sample_value("chatbot_jetstream_redeclared_total") or 0.0


@pytest.fixture
async def provisioner(nc: NATS) -> Provisioner:
    provisioner = Provisioner(nc.jetstream(), TOPOLOGY, duplicate_window=3600, replicas=1)
    await provisioner.declare()
    return provisioner


async def test_a_lost_stream_consumer_and_bucket_are_declared_again(
    nc: NATS, provisioner: Provisioner
) -> None:
    js = nc.jetstream()
    before = redeclared()
    await provisioner.check()
    assert redeclared() == before  # nothing lost, nothing declared
    await js.delete_stream(INBOUND.name)  # takes its consumer along
    await js.delete_key_value(CONVERSATIONS_BUCKET.name)
    await provisioner.check()
    assert redeclared() == before + 1
    assert provisioner.problem is None
    await js.stream_info(INBOUND.name)
    await js.consumer_info(INBOUND.name, CONSUMER.durable)
    await js.key_value(CONVERSATIONS_BUCKET.name)


async def refused_write(js: JetStreamContext) -> APIError:
    """A real refusal: a stream whose message limit is reached."""
    await js.publish(INBOUND.subject("k"), b"1")
    info = await js.stream_info(INBOUND.name)
    config = StreamConfig.from_response(info.config.as_dict())
    config.max_msgs, config.discard = 1, DiscardPolicy.NEW
    await js.update_stream(config)
    with pytest.raises(APIError) as refused:
        await js.publish(INBOUND.subject("k"), b"2")
    return refused.value


async def test_a_refused_write_makes_the_service_unready_until_a_write_succeeds(
    nc: NATS, provisioner: Provisioner
) -> None:
    readiness = Readiness()
    readiness.nats, readiness.serving, readiness.jetstream = nc, True, provisioner
    assert readiness.problem() is None
    error = await refused_write(nc.jetstream())
    assert is_refusal(error)
    provisioner.note(error)
    assert "refuses writes" in (readiness.problem() or "")
    provisioner.note()
    assert readiness.problem() is None


def test_only_storage_refusals_count() -> None:
    assert not is_refusal(APIError(code=404, err_code=10059, description="stream not found"))
    assert not is_refusal(TimeoutError())
    assert is_refusal(APIError(code=503, err_code=10023, description="insufficient resources"))
