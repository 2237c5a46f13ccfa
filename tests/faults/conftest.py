"""Fixtures of the fault suite: the whole system as separate processes, and a seeded dice.

Every test here starts the stack through the end-to-end suite's ``start_stack``, with
:data:`~.system.FAST_RECOVERY` settings so that crashed work returns within seconds.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import nats
import pytest

from ..e2e.conftest import StackFactory, http, start_stack
from .system import FAST_RECOVERY, System

__all__ = ["SystemFactory", "http", "rng", "start_stack", "start_system"]

log = logging.getLogger(__name__)

SystemFactory = Callable[..., AbstractAsyncContextManager[System]]


@pytest.fixture
def rng() -> random.Random:
    """Random moments and loads; FAULTS_SEED replays a run (the seed is logged on failure)."""
    seed = int(os.environ.get("FAULTS_SEED") or random.randrange(2**32))
    log.warning("FAULTS_SEED=%d", seed)
    return random.Random(seed)


@pytest.fixture
def start_system(
    start_stack: StackFactory, http: httpx.AsyncClient, rng: random.Random
) -> SystemFactory:
    """``async with start_system(**environment) as system:`` the stack, running."""

    @asynccontextmanager
    async def start(**environment: str) -> AsyncIterator[System]:
        seed = {"SANDBOX_FAULT_SEED": str(rng.randrange(2**32))}
        async with start_stack(**(FAST_RECOVERY | seed | environment)) as stack:
            nc = await nats.connect(f"nats://127.0.0.1:{stack.ports.nats}")
            try:
                yield System(stack, http, nc)
            finally:
                await nc.close()

    return start
