"""The whole system as separate processes, the way `make run` starts it, on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from chatbot_devstack import LocalStack, StackDriver, Twilio, running_stack

__all__ = ["StackFactory", "driver", "http", "stack", "start_stack", "twilio"]

StackFactory = Callable[..., AbstractAsyncContextManager[LocalStack]]


@pytest.fixture
def start_stack(tmp_path: Path) -> StackFactory:
    """``async with start_stack(**environment) as stack``: the stack with extra environment;
    every process's output goes to the test's ``stack.log``."""

    @asynccontextmanager
    async def start(**environment: str) -> AsyncIterator[LocalStack]:
        with (tmp_path / "stack.log").open("a", buffering=1) as log:

            def sink(name: str, line: str) -> None:
                log.write(f"{name:<12}| {line}\n")

            async with running_stack(
                run_dir=tmp_path / "run",
                environment={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "INFO", **environment},
                sink=sink,
            ) as stack:
                yield stack

    return start


@pytest.fixture
async def stack(start_stack: StackFactory) -> AsyncIterator[LocalStack]:
    """The stack on its local defaults."""
    async with start_stack() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15.0) as client:
        yield client


@pytest.fixture
def driver(stack: LocalStack, http: httpx.AsyncClient) -> StackDriver:
    """The stack driven from outside: webhooks, sandbox records, metrics, processes."""
    return StackDriver(stack, http)


@pytest.fixture
def twilio(driver: StackDriver) -> Twilio:
    """Twilio's side of the stack: its webhooks to ingress, and the fake Twilio's records."""
    return driver.twilio
