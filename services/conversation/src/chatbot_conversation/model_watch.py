"""The model lifecycle watch: does each model we use still exist, and when does it shut down?

At start and then every ``OPENAI_MODEL_WATCH_INTERVAL``, each configured model is looked up with
the models API; the answer is logged and exported (docs/conversation.md, *Model lifecycle*).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from enum import StrEnum

import openai
from openai import AsyncOpenAI
from openai.types import Model

from .metrics import MODEL_LOOKUPS, MODEL_SHUTDOWN, MODEL_UNKNOWN

__all__ = ["Lookup", "ModelWatch", "watch_models"]

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 300.0
"""Seconds before a lookup that failed (5xx, timeout, connection) is tried again."""

_NO_ENDPOINT = (404, 405, 501)
"""Statuses of a server that has no models endpoint (an OpenAI-compatible server may not)."""


class Lookup(StrEnum):
    """What one lookup of a model found: the ``outcome`` of ``chatbot_model_lookups_total``."""

    ACTIVE = "active"
    RETIRING = "retiring"
    UNKNOWN = "unknown"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"


class _NoModelsEndpoint(Exception):
    """The server answers neither ``GET /models/{id}`` nor ``GET /models``."""


class ModelWatch:
    """Looks each configured model up, at start and then every ``interval`` seconds."""

    def __init__(self, client: AsyncOpenAI, models: Iterable[str], *, interval: float) -> None:
        self._client = client
        self.models = tuple(dict.fromkeys(models))
        self._interval = interval
        self._stopping = asyncio.Event()
        for model in self.models:
            MODEL_UNKNOWN.labels(model).set(0)
            for outcome in Lookup:
                MODEL_LOOKUPS.labels(model, outcome)

    async def run(self) -> None:
        """Check, then wait; until :meth:`stop`, or for good once the server has no endpoint."""
        while not self._stopping.is_set():
            try:
                outcomes = await self.check()
            except _NoModelsEndpoint:
                return
            delay = self._interval
            if Lookup.FAILED in outcomes.values():
                delay = min(delay, RETRY_AFTER_FAILURE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    def stop(self) -> None:
        self._stopping.set()

    async def check(self) -> dict[str, Lookup]:
        """Look every model up once; what each lookup found.

        Raises ``_NoModelsEndpoint`` (after one INFO line) when the server has no models API.
        """
        catalogue: dict[str, Model] | None = None
        outcomes: dict[str, Lookup] = {}
        for model in self.models:
            try:
                found: Model | None = await self._client.models.retrieve(model)
            except openai.APIStatusError as error:
                if error.code == "model_not_found":
                    found = None
                elif error.status_code in _NO_ENDPOINT:
                    # No lookup by id (vLLM has only the list): find the model in the list.
                    if catalogue is None:
                        catalogue = await self._catalogue()
                    found = catalogue.get(model)
                else:
                    outcomes[model] = self._failed(model, error)
                    continue
            except openai.APIError as error:  # timeouts and connection errors
                outcomes[model] = self._failed(model, error)
                continue
            outcomes[model] = self._record(model, found)
        return outcomes

    async def _catalogue(self) -> dict[str, Model]:
        try:
            return {model.id: model async for model in self._client.models.list()}
        except openai.APIStatusError as error:
            if error.status_code not in _NO_ENDPOINT:
                raise
        for model in self.models:
            MODEL_LOOKUPS.labels(model, Lookup.UNSUPPORTED).inc()
        log.info(
            "the model server has no models endpoint: shutdown dates are not watched",
            extra={"models": list(self.models)},
        )
        raise _NoModelsEndpoint

    def _failed(self, model: str, error: openai.APIError) -> Lookup:
        MODEL_LOOKUPS.labels(model, Lookup.FAILED).inc()
        log.warning(
            "could not look the model up; trying again later",
            extra={"model": model, "error": type(error).__name__},
        )
        return Lookup.FAILED

    def _record(self, model: str, found: Model | None) -> Lookup:
        if found is None:
            MODEL_SHUTDOWN.remove(model)
            log.error(
                "the models API does not know this model: requests to it will fail",
                extra={"model": model},
            )
            outcome = Lookup.UNKNOWN
        elif not found.shutdown_date:
            MODEL_SHUTDOWN.remove(model)
            log.info("the model is active, with no shutdown date", extra={"model": model})
            outcome = Lookup.ACTIVE
        else:
            self._retiring(model, found.shutdown_date)
            outcome = Lookup.RETIRING
        MODEL_UNKNOWN.labels(model).set(outcome is Lookup.UNKNOWN)
        MODEL_LOOKUPS.labels(model, outcome).inc()
        return outcome

    def _retiring(self, model: str, shutdown_date: str) -> None:
        try:
            day = date.fromisoformat(shutdown_date[:10])
        except ValueError:
            log.warning(
                "the model has a shutdown date that is not a date: look it up by hand",
                extra={"model": model, "shutdown_date": shutdown_date},
            )
            return
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        MODEL_SHUTDOWN.labels(model).set(midnight.timestamp())
        log.warning(
            "the model shuts down on %s: choose another model before then",
            day.isoformat(),
            extra={"model": model, "shutdown_date": day.isoformat()},
        )


@asynccontextmanager
async def watch_models(
    client: AsyncOpenAI, models: Iterable[str], *, interval: float
) -> AsyncIterator[ModelWatch | None]:
    """Run a :class:`ModelWatch` in the background while the context is open (none at 0)."""
    if interval <= 0:
        yield None
        return
    watch = ModelWatch(client, models, interval=interval)
    task = asyncio.create_task(watch.run(), name="model-watch")
    try:
        yield watch
    finally:
        watch.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
