"""The process set-up every service shares before it serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chatbot_common.runtime import GC_YOUNGEST_THRESHOLD, tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_the_collector_runs_less_often_and_skips_what_start_up_made() -> None:
    made_at_start_up = [object()]
    older = gc.get_threshold()[1:]

    tune_garbage_collector()

    assert gc.get_threshold() == (GC_YOUNGEST_THRESHOLD, *older)
    # Frozen objects sit in the permanent generation, which no collection traverses.
    assert all(tracked is not made_at_start_up for tracked in gc.get_objects())
