"""RecordLog: waiting for records is event driven and times out cleanly."""

from __future__ import annotations

import asyncio

import pytest

from chatbot_sandbox.records import RecordLog


async def test_wait_for_returns_at_once_when_enough_records_exist() -> None:
    log: RecordLog[int] = RecordLog()
    log.append(1)
    assert await log.wait_for(1, timeout=0.01) == [1]


async def test_wait_for_wakes_on_the_append_that_satisfies_it() -> None:
    log: RecordLog[int] = RecordLog()
    waiter = asyncio.create_task(log.wait_for(2, timeout=5))
    log.append(1)
    await asyncio.sleep(0)  # let the waiter park (a yield, not a timed wait)
    assert not waiter.done()
    log.append(2)
    assert await waiter == [1, 2]


async def test_wait_until_sees_in_place_changes_after_notify() -> None:
    log: RecordLog[list[str]] = RecordLog()
    item: list[str] = []
    log.append(item)
    waiter = asyncio.create_task(log.wait_until(lambda items: items[0] == ["done"], timeout=5))
    item.append("done")
    log.notify()
    assert await waiter == [["done"]]


async def test_wait_for_times_out_and_leaves_no_waiter_behind() -> None:
    log: RecordLog[int] = RecordLog()
    with pytest.raises(TimeoutError):
        await log.wait_for(1, timeout=0.01)
    log.append(1)  # would fail if a done waiter were still registered
    assert log.snapshot() == [1]
