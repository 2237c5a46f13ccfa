"""Part of the stack: only the processes asked for start, on a loop of their own when the caller
has none, and a temporary run directory goes with them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from chatbot_devstack import (
    LocalStack,
    Ports,
    StackDriver,
    inbound_form,
    running_stack,
    started_stack,
)


def test_an_unknown_part_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no such part of the stack: \['ingres'\]"):
        LocalStack(
            ports=Ports.free(),
            run_dir=tmp_path,
            environment={},
            sink=lambda _, __: None,
            parts=("nats", "ingres"),
        )


def test_nats_and_ingress_alone_start_and_stop_outside_an_event_loop() -> None:
    lines: list[str] = []
    with started_stack(
        environment={"PATH": "/usr/bin:/bin"},
        sink=lambda name, _: lines.append(name),
        parts=("ingress", "nats"),
    ) as stack:
        assert list(stack.processes) == ["nats", "ingress"]  # in start order
        run_dir = stack.run_dir
        assert (run_dir / "jetstream").is_dir()
        answer = httpx.get(stack.url("ingress") + "/readyz")
        assert answer.status_code == 200
    assert stack.exited() == ["nats", "ingress"]
    assert not run_dir.exists()
    assert set(lines) == {"nats", "ingress"}


async def test_the_driver_reads_a_services_readiness_and_metrics_and_kills_it(
    tmp_path: Path,
) -> None:
    async with (
        running_stack(
            run_dir=tmp_path,
            environment={"PATH": "/usr/bin:/bin"},
            sink=lambda _, __: None,
            parts=("nats", "ingress"),
        ) as stack,
        httpx.AsyncClient() as http,
    ):
        driver = StackDriver(stack, http)
        assert await driver.ready("ingress")
        answer = await driver.twilio.post(inbound_form("hello"))
        assert answer.status_code == 200
        taken = {"route": "/twilio/messages", "outcome": "accepted"}
        assert await driver.metric("ingress", "chatbot_webhook_requests_total", **taken) == 1
        await driver.kill("ingress")
        assert not await driver.ready("ingress")
        assert list(driver.kills) == ["ingress"]
