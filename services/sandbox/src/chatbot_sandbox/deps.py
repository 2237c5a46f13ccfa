"""Typed access to the per-app sandbox state, for route handlers.

The app factory keeps the settings and the store on `app.state` (no module-level globals, so
several sandboxes can run in one process, as tests do). These dependencies give handlers that
state with real types instead of Starlette's untyped `State`. They are `async` because FastAPI
runs a plain `def` dependency in a worker thread: two thread hops per request would cost more
than the handlers (the benchmarks drive the sandbox at hundreds of requests a second).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from chatbot_sandbox.config import SandboxSettings
from chatbot_sandbox.status_callbacks import StatusReporter
from chatbot_sandbox.store import SandboxStore

__all__ = ["Reporter", "Settings", "Store", "get_settings", "get_status_reporter", "get_store"]


def _app_state[T](name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency giving ``app.state.<name>``, checked to be a ``kind``."""

    async def get(request: Request) -> T:
        value = getattr(request.app.state, name, None)
        if not isinstance(value, kind):
            raise RuntimeError(f"app.state.{name} is not set; build the app with create_app()")
        return value

    return get


get_settings = _app_state("settings", SandboxSettings)
"""The settings the app was created with."""
get_store = _app_state("store", SandboxStore)
"""The app's in-memory records."""
get_status_reporter = _app_state("status_reporter", StatusReporter)
"""The app's status callback poster."""

Settings = Annotated[SandboxSettings, Depends(get_settings)]
Store = Annotated[SandboxStore, Depends(get_store)]
Reporter = Annotated[StatusReporter, Depends(get_status_reporter)]
