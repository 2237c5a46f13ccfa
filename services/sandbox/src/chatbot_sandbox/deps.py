"""Typed access to the per-app sandbox state, for route handlers.

The app factory keeps the settings and the store on `app.state` (no module-level globals, so
several sandboxes can run in one process, as tests do). These dependencies give handlers that
state with real types instead of Starlette's untyped `State`. They are `async` because FastAPI
runs a plain `def` dependency in a worker thread: two thread hops per request would cost more
than the handlers (the benchmarks drive the sandbox at hundreds of requests a second).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.status_callbacks import StatusReporter
from chatbot_sandbox.store import SandboxStore

__all__ = ["Reporter", "Settings", "Store", "get_settings", "get_status_reporter", "get_store"]


async def get_settings(request: Request) -> SandboxSettings:
    """The settings the app was created with."""
    settings = request.app.state.settings
    if not isinstance(settings, SandboxSettings):
        raise RuntimeError("app.state.settings is not set; build the app with create_app()")
    return settings


async def get_store(request: Request) -> SandboxStore:
    """The app's in-memory records."""
    store = request.app.state.store
    if not isinstance(store, SandboxStore):
        raise RuntimeError("app.state.store is not set; build the app with create_app()")
    return store


async def get_status_reporter(request: Request) -> StatusReporter:
    """The app's status callback poster."""
    reporter = request.app.state.status_reporter
    if not isinstance(reporter, StatusReporter):
        raise RuntimeError("app.state.status_reporter is not set; build the app with create_app()")
    return reporter


Settings = Annotated[SandboxSettings, Depends(get_settings)]
Store = Annotated[SandboxStore, Depends(get_store)]
Reporter = Annotated[StatusReporter, Depends(get_status_reporter)]
