"""A running stack seen from outside, as tests and benchmarks drive it: Twilio's webhooks, the
desk's agent, the sandbox's records and faults, each service's readiness and metrics, and its
processes."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .desk import Desk
from .stack import LocalStack
from .webhooks import Twilio

__all__ = ["Samples", "StackDriver", "poll"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Every sample of a ``/metrics`` page: (name, labels) to value."""


async def poll(check: Callable[[], Awaitable[bool]], *, every: float, timeout: float) -> None:
    """Ask ``check`` every ``every`` seconds until it is true; TimeoutError after ``timeout``.

    For conditions in other processes (readiness, a consumer's counts), which no event reports.
    """
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(every)


class StackDriver:
    """What a test or a benchmark does to a running :class:`LocalStack`, and reads from it."""

    def __init__(self, stack: LocalStack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http
        self.twilio = Twilio(
            http,
            ingress_url=stack.url("ingress"),
            sandbox_url=stack.url("sandbox"),
            auth_token=stack.env["TWILIO_AUTH_TOKEN"],
        )
        self.desk = Desk(http, sandbox_url=stack.url("sandbox"))
        self.kills: dict[str, list[datetime]] = {}
        """When each process was killed (kill -9)."""

    def url(self, name: str) -> str:
        return self.stack.url(name)

    async def deliver(
        self, form: dict[str, str], *, path: str = "/twilio/messages", timeout: float = 60.0
    ) -> None:
        """POST a signed webhook until ingress answers 200, retrying a 503 (see Twilio.deliver)."""
        await self.twilio.deliver(form, path, timeout=timeout)

    async def ready(self, name: str) -> bool:
        """Whether ``/readyz`` of a service answers 200 now."""
        try:
            answer = await self.http.get(f"{self.url(name)}/readyz", timeout=2)
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    async def wait_ready(self, name: str, ready: bool = True, timeout: float = 30.0) -> None:
        """Poll ``/readyz`` until it says ``ready`` (True) or not ready (False)."""

        async def settled() -> bool:
            return await self.ready(name) == ready

        await poll(settled, every=0.05, timeout=timeout)

    async def metrics(self, name: str) -> Samples:
        """Every sample of a service's ``/metrics``."""
        answer = await self.http.get(f"{self.url(name)}/metrics")
        answer.raise_for_status()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }

    async def metric(self, process: str, name: str, /, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
        wanted = set(labels.items())
        samples = await self.metrics(process)
        return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)

    async def openai_faults(self, *faults: dict[str, Any]) -> None:
        """Queue faults of the sandbox's OpenAI (see chatbot_sandbox.openai)."""
        answer = await self.http.post(f"{self.url('sandbox')}/_sandbox/openai/faults", json=faults)
        answer.raise_for_status()

    async def twilio_fault(self, **fault: Any) -> None:
        """Queue one fault of the sandbox's Twilio (see chatbot_sandbox.twilio)."""
        answer = await self.http.post(f"{self.url('sandbox')}/_sandbox/twilio/faults", json=fault)
        answer.raise_for_status()

    async def sandbox_records(self, path: str, *, after: int = 0) -> list[dict[str, Any]]:
        """One of the sandbox's inspection lists, e.g. ``twilio/messages``, from ``after`` on."""
        answer = await self.http.get(
            f"{self.url('sandbox')}/_sandbox/{path}", params={"after": after} if after else None
        )
        answer.raise_for_status()
        records: list[dict[str, Any]] = answer.json()
        return records

    async def kill(self, name: str) -> None:
        """kill -9, as a crash or the OOM killer would; noted once the process is dead."""
        await self.stack.processes[name].kill()
        # Not before the signal: the process may still send (and Twilio accept) until it dies.
        self.kills.setdefault(name, []).append(datetime.now(UTC))

    async def terminate(self, name: str, grace: float) -> float:
        """SIGTERM, as Kubernetes sends it; the seconds until the process exited.

        Fails when it is still running after ``grace`` (it is then killed).
        """
        process = self.stack.processes[name]
        started = time.monotonic()
        process.signal(signal.SIGTERM)
        code = await process.wait(grace)
        took = time.monotonic() - started
        if code is None:
            await self.kill(name)
            raise AssertionError(f"{name} still ran {grace:g} s after SIGTERM")
        return took

    async def restart(self, name: str) -> None:
        """Start a stopped or killed process again and wait until it is ready."""
        await self.stack.restart(name)
