"""The fake OpenAI's models API: shutdown dates, unknown models, and a server that has none."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import openai
import pytest

from chatbot_devstack.embedded import RunningSandbox

SandboxFactory = Callable[..., AbstractAsyncContextManager[RunningSandbox]]
Connect = Callable[..., openai.AsyncOpenAI]


async def test_models_carry_their_shutdown_dates(
    start_sandbox: SandboxFactory, connect: Connect
) -> None:
    configured = {"gpt-5-mini": None, "my-model": "2030-01-02"}
    async with start_sandbox(openai_models=configured) as sandbox, connect(sandbox) as client:
        listed = {model.id: model.to_dict() for model in (await client.models.list()).data}
        retiring = (await client.models.retrieve("gpt-4o-mini-transcribe")).to_dict()
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.models.retrieve("gpt-nobody-knows")
    assert listed["gpt-6.1-terra"]["shutdown_date"] is None
    assert listed["gpt-5-mini"]["shutdown_date"] is None  # the setting replaced the default
    assert listed["my-model"]["shutdown_date"] == "2030-01-02"
    assert retiring["shutdown_date"] == "2027-02-26"
    assert (unknown.value.code, unknown.value.param) == ("model_not_found", "model")


async def test_without_the_models_endpoint_both_routes_are_a_plain_404(
    start_sandbox: SandboxFactory, connect: Connect
) -> None:
    async with start_sandbox(openai_models_endpoint=False) as sandbox, connect(sandbox) as client:
        with pytest.raises(openai.NotFoundError) as listing:
            await client.models.list()
        with pytest.raises(openai.NotFoundError) as lookup:
            await client.models.retrieve("gpt-6.1-terra")
    assert listing.value.code is None
    assert lookup.value.code is None
