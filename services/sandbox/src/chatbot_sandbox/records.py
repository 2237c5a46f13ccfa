"""What the fakes received, kept in order, and a way to wait for it without polling."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

__all__ = ["RecordLog", "record_json"]


class RecordLog[T]:
    """An append-only list whose readers wait for a condition or subscribe."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiters: list[tuple[Callable[[Sequence[T]], bool], asyncio.Future[None]]] = []
        self._subscribers: list[Callable[[T], None]] = []

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> list[T]:
        """A copy of the records, oldest first."""
        return list(self._items)

    def append(self, item: T) -> None:
        """Keep a record, wake the waiters it satisfies and tell the subscribers."""
        self._items.append(item)
        self.notify()
        for subscriber in self._subscribers:
            subscriber(item)

    def subscribe(self, callback: Callable[[T], None]) -> None:
        """Call ``callback`` (which must not block or raise) with every later record, in order."""
        self._subscribers.append(callback)

    def notify(self) -> None:
        """Wake the waiters whose condition holds (also after a record changed in place)."""
        for condition, future in self._waiters:
            if not future.done() and condition(self._items):
                future.set_result(None)

    async def wait_until(self, condition: Callable[[Sequence[T]], bool], timeout: float) -> list[T]:
        """The records once ``condition(records)`` holds; TimeoutError after ``timeout``."""
        if not condition(self._items):
            entry = (condition, asyncio.get_running_loop().create_future())
            self._waiters.append(entry)
            try:
                await asyncio.wait_for(entry[1], timeout)
            finally:
                self._waiters.remove(entry)
        return self.snapshot()

    async def wait_for(self, count: int, timeout: float) -> list[T]:
        """The records once there are at least ``count``; TimeoutError after ``timeout``."""
        return await self.wait_until(lambda items: len(items) >= count, timeout)


def record_json(record: Any) -> dict[str, Any]:
    """A record dataclass as the inspection API shows it (``from_`` as ``from``, ISO times)."""
    fields = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        fields[field.name.rstrip("_")] = value.isoformat() if isinstance(value, datetime) else value
    return fields
