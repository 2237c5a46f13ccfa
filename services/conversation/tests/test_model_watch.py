"""The model lifecycle watch against the sandbox's models API, through the real openai SDK."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from openai import AsyncOpenAI
from prometheus_client import REGISTRY

from chatbot_conversation.model_watch import Lookup, ModelWatch
from chatbot_devstack.embedded import RunningSandbox, running_sandbox
from chatbot_sandbox.openai.records import FaultSpec, ModelEntry
from chatbot_sandbox.process import SandboxSettings

from .conftest import MODEL

RETIRING = "gpt-retiring-test"
SHUTDOWN = "2027-01-15"


def lookups(model: str, outcome: Lookup) -> float:
    labels = {"model": model, "outcome": outcome}
    return REGISTRY.get_sample_value("chatbot_model_lookups_total", labels) or 0.0


def shutdown_gauge(model: str) -> float | None:
    return REGISTRY.get_sample_value("chatbot_model_shutdown_timestamp_seconds", {"model": model})


def client_of(sandbox: RunningSandbox) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="sk-test", base_url=sandbox.openai_base_url, max_retries=0)


@pytest.fixture
async def openai_client(sandbox: RunningSandbox) -> AsyncIterator[AsyncOpenAI]:
    async with client_of(sandbox) as client:
        yield client


async def test_a_model_with_a_shutdown_date_is_logged_and_exported(
    sandbox: RunningSandbox, openai_client: AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.store.models[RETIRING] = ModelEntry(RETIRING, shutdown_date=SHUTDOWN)
    watch = ModelWatch(openai_client, [MODEL, RETIRING], interval=3600)
    with caplog.at_level(logging.INFO, "chatbot_conversation.model_watch"):
        assert await watch.check() == {MODEL: Lookup.ACTIVE, RETIRING: Lookup.RETIRING}
    midnight = datetime(2027, 1, 15, tzinfo=UTC).timestamp()
    assert shutdown_gauge(RETIRING) == midnight
    assert shutdown_gauge(MODEL) is None
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert SHUTDOWN in warning.getMessage()
    assert warning.model == RETIRING  # type: ignore[attr-defined]


async def test_a_date_withdrawn_removes_the_gauge(
    sandbox: RunningSandbox, openai_client: AsyncOpenAI
) -> None:
    sandbox.store.models[RETIRING] = ModelEntry(RETIRING, shutdown_date=SHUTDOWN)
    watch = ModelWatch(openai_client, [RETIRING], interval=3600)
    await watch.check()
    assert shutdown_gauge(RETIRING) is not None
    sandbox.store.models[RETIRING] = ModelEntry(RETIRING)
    assert await watch.check() == {RETIRING: Lookup.ACTIVE}
    assert shutdown_gauge(RETIRING) is None


async def test_a_model_the_api_does_not_know_is_an_error_counted(
    openai_client: AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    before = lookups("gpt-nobody-knows", Lookup.UNKNOWN)
    watch = ModelWatch(openai_client, ["gpt-nobody-knows"], interval=3600)
    assert await watch.check() == {"gpt-nobody-knows": Lookup.UNKNOWN}
    assert lookups("gpt-nobody-knows", Lookup.UNKNOWN) == before + 1
    assert REGISTRY.get_sample_value("chatbot_model_unknown", {"model": "gpt-nobody-knows"}) == 1
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.model == "gpt-nobody-knows"  # type: ignore[attr-defined]


async def test_a_failed_lookup_is_a_warning_and_is_tried_again(
    sandbox: RunningSandbox, openai_client: AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.store.openai_faults.append(FaultSpec(kind="server_error", endpoint="models").queued())
    watch = ModelWatch(openai_client, [MODEL], interval=3600)
    assert await watch.check() == {MODEL: Lookup.FAILED}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert await watch.check() == {MODEL: Lookup.ACTIVE}


async def test_a_server_without_a_models_endpoint_gets_one_info_line_and_no_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = SandboxSettings.model_validate(
        {"host": "127.0.0.1", "port": 0, "openai_models_endpoint": False}
    )
    before = lookups(MODEL, Lookup.UNSUPPORTED)
    async with running_sandbox(settings) as bare, client_of(bare) as client:
        watch = ModelWatch(client, [MODEL, "another-model"], interval=0.01)
        with caplog.at_level(logging.INFO, "chatbot_conversation.model_watch"):
            # run() returns by itself: the watch ends instead of asking again every 10 ms.
            await asyncio.wait_for(watch.run(), timeout=5)
    assert lookups(MODEL, Lookup.UNSUPPORTED) == before + 1
    assert [r.levelno for r in caplog.records] == [logging.INFO]


async def test_a_server_with_only_the_list_is_looked_up_in_the_list(
    sandbox: RunningSandbox, openai_client: AsyncOpenAI
) -> None:
    """vLLM serves GET /v1/models but not /v1/models/{id}: the list answers instead."""
    sandbox.store.models[RETIRING] = ModelEntry(RETIRING, shutdown_date=SHUTDOWN)

    class ListOnly:
        def __init__(self, client: AsyncOpenAI) -> None:
            self.models = self
            self._client = client

        async def retrieve(self, model: str) -> Any:
            # What a server without the route answers: FastAPI's 404, no error code.
            return await self._client.get(f"/no-such-route/{model}", cast_to=object)

        def list(self) -> Any:
            return self._client.models.list()

    watch = ModelWatch(ListOnly(openai_client), [RETIRING, "gpt-nobody-knows"], interval=3600)  # type: ignore[arg-type]
    assert await watch.check() == {RETIRING: Lookup.RETIRING, "gpt-nobody-knows": Lookup.UNKNOWN}


class _Seen(logging.Handler):
    """Sets an event when the watch logs about ``model``."""

    def __init__(self, model: str) -> None:
        super().__init__(logging.INFO)
        self.model = model
        self.event = asyncio.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "model", None) == self.model:
            self.records.append(record)
            self.event.set()


async def test_the_service_watches_its_models_from_start_and_keeps_serving(
    chat: Any, start_service: Any, sandbox: RunningSandbox
) -> None:
    """An unknown transcription model is an error, and the service still answers."""
    seen = _Seen("gpt-transcribe-gone")
    watch_log = logging.getLogger("chatbot_conversation.model_watch")
    watch_log.addHandler(seen)
    try:
        async with start_service(
            openai_transcription_model="gpt-transcribe-gone", openai_model_watch_interval=3600
        ):
            await asyncio.wait_for(seen.event.wait(), timeout=10)
            await chat.send("still there?")
            assert await chat.replies(1) == ["Echo #1: still there?"]
    finally:
        watch_log.removeHandler(seen)
    assert [r.levelno for r in seen.records] == [logging.ERROR]
