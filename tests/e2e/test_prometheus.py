"""A real Prometheus server (Debian's package) scrapes the three services during a run."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatbot_sandbox.stack import LocalStack, ManagedProcess, ProcessSpec, free_port

from .conftest import inbound_form, post_webhook, sent_messages

pytestmark = pytest.mark.e2e

SERVICES = ("ingress", "conversation", "sender")


@contextmanager
def prometheus(stack: LocalStack, folder: Path) -> Iterator[str]:
    """Prometheus scraping every service each second; yields its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: `make test` installs Debian's prometheus package")
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{getattr(stack.ports, name)}']"
        for name in SERVICES
    )
    config = folder / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}\n")
    port = free_port()
    spec = ProcessSpec(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )
    log = (folder / "prometheus.log").open("a")
    process = ManagedProcess(spec, lambda _, line: log.write(line + "\n"))
    process.start()
    try:
        process.wait_ready(30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()
        log.close()


async def query_until(
    http: httpx.AsyncClient, url: str, promql: str, expected: int
) -> list[dict[str, Any]]:
    """Ask Prometheus until the query returns ``expected`` series (scrapes come every second)."""
    async with asyncio.timeout(30):
        while True:
            answer = await http.get(f"{url}/api/v1/query", params={"query": promql})
            result: list[dict[str, Any]] = answer.json()["data"]["result"]
            if len(result) >= expected:
                return result
            await asyncio.sleep(0.5)


async def test_prometheus_scrapes_the_services_and_sees_the_message(
    stack: LocalStack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with prometheus(stack, tmp_path) as url:
        assert (await post_webhook(http, stack, inbound_form("count me"))).status_code == 200
        await sent_messages(http, stack, at_least=1)

        up = await query_until(http, url, "up == 1", expected=3)
        assert {series["metric"]["job"] for series in up} == set(SERVICES)
        accepted = await query_until(
            http, url, 'chatbot_webhook_requests_total{outcome="accepted"} > 0', expected=1
        )
        assert "/twilio/messages" in {series["metric"]["route"] for series in accepted}
        handled = await query_until(
            http, url, 'sum by (job) (chatbot_consumer_messages_total{outcome="ok"}) > 0', 2
        )
        assert {series["metric"]["job"] for series in handled} == {"conversation", "sender"}
