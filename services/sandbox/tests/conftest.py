"""Fixtures: a real sandbox server on a free loopback port, and SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from chatbot_devstack.embedded import RunningSandbox, running_sandbox
from chatbot_sandbox.process import SandboxSettings

ACCOUNT_SID = "AC" + "1234abcd" * 4
AUTH_TOKEN = "test-auth-token"
MODEL_LABEL = "sandbox-test-echo"

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]


def sandbox_settings(**overrides: object) -> SandboxSettings:
    """Settings that do not depend on the environment the tests run in."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "log_level": "INFO",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "openai_latency": 0.0,
        "twilio_latency": 0.0,
        "model_label": MODEL_LABEL,
    }
    values.update(overrides)
    return SandboxSettings.model_validate(values)


@pytest.fixture
def start_sandbox() -> SandboxFactory:
    """Start a sandbox with some settings overridden: `async with start_sandbox(x=1) as sb:`."""

    def start(**overrides: object) -> AbstractAsyncContextManager[RunningSandbox]:
        return running_sandbox(sandbox_settings(**overrides))

    return start


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A sandbox with the default test settings."""
    async with running_sandbox(sandbox_settings()) as running:
        yield running


@pytest.fixture
async def http(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client on the sandbox, for what the SDKs would never send."""
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=5.0) as client:
        yield client
