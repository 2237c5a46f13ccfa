"""Route dependencies that hand a handler its part of ``app.state``, typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

__all__ = ["app_state"]


def app_state[T](name: str, kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency giving ``app.state.<name>``, checked to be a ``kind``.

    It is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread.
    """

    async def get(request: Request) -> T:
        value = getattr(request.app.state, name, None)
        if not isinstance(value, kind):
            raise RuntimeError(f"app.state.{name} is not a {kind.__name__}; use create_app()")
        return value

    return get
