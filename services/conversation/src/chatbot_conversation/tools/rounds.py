"""A turn's tool loop, whichever backend runs it: rounds counted against ``max_rounds``, one
deadline for the whole loop, and the last model call made with the tools switched off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from .calls import ToolCall, ToolRunner, TurnRef, error_output
from .metrics import TOOL_ROUNDS

__all__ = ["ToolRounds"]

_OUT_OF_TIME = "the turn ran out of time before this call finished"


class ToolRounds:
    """One turn's rounds: model call, the function calls it asks for, their outputs, again."""

    def __init__(self, runner: ToolRunner | None, turn: TurnRef) -> None:
        self._runner = runner
        self._turn = turn
        self.calls = 0
        """Model calls made so far in this turn."""
        self.rounds = 0
        """Rounds of function calls run so far."""
        limit = runner.tools.turn_deadline if runner is not None else 0.0
        self._deadline = time.monotonic() + limit
        self._late = False

    @property
    def offered(self) -> bool:
        """Whether the next model call may use tools (not the last one a turn may make)."""
        if self._runner is None or self._late or time.monotonic() >= self._deadline:
            return False
        return self.calls + 1 < self._runner.tools.max_rounds

    @property
    def spent(self) -> bool:
        """Whether the turn may make no more model calls: its answer is what it has now (a
        server that ignores ``tool_choice: none`` could otherwise call tools for ever)."""
        return self._runner is None or self.calls >= self._runner.tools.max_rounds

    def called(self) -> None:
        """Count a model call."""
        self.calls += 1

    async def run(self, calls: Sequence[ToolCall]) -> list[str]:
        """Run one round's calls at once; a call the deadline cuts short answers an error (as
        does every call when no tool is configured: a server that calls unasked)."""
        self.rounds += 1
        if self._runner is None:
            return [error_output("no tools are configured") for _ in calls]
        tasks = [
            asyncio.create_task(self._runner.run(call, self._turn, self.rounds, index))
            for index, call in enumerate(calls)
        ]
        try:
            await asyncio.wait(tasks, timeout=max(0.0, self._deadline - time.monotonic()))
        finally:  # the deadline, or the turn itself cancelled: no call outlives it
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        outputs = []
        for task in tasks:
            if task.cancelled():
                self._late = True
                outputs.append(error_output(_OUT_OF_TIME))
            else:
                outputs.append(task.result())
        return outputs

    def finish(self) -> None:
        """Record the rounds of a turn the model answered."""
        if self._runner is not None:
            TOOL_ROUNDS.observe(self.rounds)
