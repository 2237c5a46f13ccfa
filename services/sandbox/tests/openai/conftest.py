"""Real `openai` SDK clients on a sandbox, without SDK retries, so every error surfaces at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import openai
import pytest

from chatbot_devstack.embedded import RunningSandbox

Connect = Callable[..., openai.AsyncOpenAI]


@pytest.fixture
def connect() -> Connect:
    """A client on any sandbox: ``async with connect(sandbox, api_key=..., timeout=...) as c:``."""

    def connect(
        sandbox: RunningSandbox, *, api_key: str = "sk-test", timeout: float = 5.0
    ) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=sandbox.openai_base_url, api_key=api_key, max_retries=0, timeout=timeout
        )

    return connect


@pytest.fixture
async def client(sandbox: RunningSandbox, connect: Connect) -> AsyncIterator[openai.AsyncOpenAI]:
    """A client on the default sandbox."""
    async with connect(sandbox) as client:
        yield client
