"""The `helm test` pod's script, run against a real ingress started with the chart's rendered
configuration (ConfigMap and Secret) and a real JetStream: it must pass, and the webhook it
posts must land in the stream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import nats
import pytest

from chatbot_devstack import ManagedProcess, ProcessSpec, free_port

from . import helm

if TYPE_CHECKING:
    from conftest import NatsServer

BIN = Path(sys.executable).parent


def _workload(docs: list[helm.Doc], kind: str, component: str) -> helm.Doc:
    (found,) = [
        d
        for d in helm.by_kind(docs, kind)
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    return found


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
async def test_helm_test_passes_against_ingress(
    manifests: dict[str, list[helm.Doc]], scenario: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    docs = manifests[scenario]
    port = free_port()
    ingress_env = {
        **helm.container_env(docs, _workload(docs, "Deployment", "ingress")),
        # Loopback instead of every interface, a free port and the test's JetStream (a single
        # server, so one replica per stream).
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NATS_URL": nats_server.url,
        "NATS_REPLICAS": "1",
        "PATH": os.environ["PATH"],
    }
    log = (tmp_path / "ingress.log").open("a")
    ingress = ManagedProcess(
        ProcessSpec(
            "ingress",
            [str(BIN / "chatbot-ingress")],
            env=ingress_env,
            ready_url=f"http://127.0.0.1:{port}/readyz",
        ),
        lambda _, line: log.write(line + "\n"),
    )
    ingress.start()
    try:
        await ingress.ready(30)
        pod = _workload(docs, "Pod", "test")
        (container,) = pod["spec"]["containers"]
        assert container["command"][:2] == ["python", "-c"]
        env = {
            **helm.container_env(docs, pod),
            "SERVICE_URL": f"http://127.0.0.1:{port}",
            "PATH": os.environ["PATH"],
        }
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", container["command"][2]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr + ingress.recent_output()
        assert "ok:" in result.stdout
    finally:
        await ingress.stop()
        log.close()

    stream = "CHAT_EVENTS" if env["WEBHOOK_ROUTE"] == "/twilio/status" else "CHAT_INBOUND"
    client = await nats.connect(nats_server.url)
    try:
        info = await client.jetstream().stream_info(stream)
        assert info.state.messages == 1
    finally:
        await client.close()
