"""What `make run` shows: one readable line per event, and each process's whole log in a file.

The services log JSON lines; the terminal gets ``name  12:00:01 message  key=value`` for each,
without uvicorn's start-up chatter and nats-server's informational lines, which stay in the
files under ``.run/logs/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["RunLog", "readable"]

_COLOURS = {"nats": "90", "sandbox": "35", "ingress": "36", "conversation": "33", "sender": "32"}
_LEVEL_COLOURS = {"WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}
_NATS_LEVELS = {"WRN": "WARNING", "ERR": "ERROR", "FTL": "CRITICAL"}
_NATS_LINE = re.compile(r"^\[\d+\] \d{4}/\d\d/\d\d (\d\d:\d\d:\d\d)\.\d+ \[(\w+)\] (.*)$")
_NOT_SHOWN = frozenset(
    {"time", "level", "logger", "message", "service", "color_message", "taskName"}
    | {"trace_id", "span_id", "exc_info", "stack_info"}
)
"""JSON fields the terminal line leaves out (the file has them)."""


def _paint(text: str, code: str | None, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def _shown(at: str, level: str, text: str, colour: bool) -> str:
    if level != "INFO":
        text = _paint(f"{level} ", _LEVEL_COLOURS.get(level), colour) + text
    return f"{_paint(at, '2', colour)} {text}"


def _from_json(record: dict[str, Any], colour: bool) -> str | None:
    level = str(record.get("level", "INFO"))
    if str(record.get("logger", "")).startswith("uvicorn") and level == "INFO":
        return None
    extras = "".join(f"  {k}={v}" for k, v in record.items() if k not in _NOT_SHOWN)
    text = f"{record.get('message', '')}{extras}"
    if trace := record.get("exc_info"):
        text += "\n" + "\n".join(f"    {line}" for line in str(trace).splitlines())
    return _shown(str(record.get("time", ""))[11:19], level, text, colour)


def readable(line: str, *, colour: bool) -> str | None:
    """The terminal's form of one output line, or None for one shown only in the log file."""
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                return _from_json(record, colour)
    if match := _NATS_LINE.match(line):
        at, level, text = match.groups()
        return _shown(at, _NATS_LEVELS[level], text, colour) if level in _NATS_LEVELS else None
    return line


class RunLog:
    """The sink of `make run`'s processes: files under ``directory``, readable lines on ``out``."""

    def __init__(self, directory: Path, out: TextIO, *, colour: bool) -> None:
        self.directory = directory
        self._out = out
        self._colour = colour
        self._files: dict[str, TextIO] = {}
        self._shown = threading.Event()
        self._lock = threading.Lock()

    def file(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def __call__(self, name: str, line: str) -> None:
        with self._lock:
            self._write(name, line)

    def _write(self, name: str, line: str) -> None:
        if name not in self._files:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._files[name] = self.file(name).open("w", buffering=1)
        self._files[name].write(line + "\n")
        if (text := readable(line, colour=self._colour)) is not None:
            label = _paint(f"{name:<12}", _COLOURS.get(name), self._colour)
            self._out.write(f"{label} {text}\n")
            self._out.flush()
            self._shown.set()

    async def settled(self, quiet: float = 0.3, at_most: float = 3.0) -> None:
        """Return once nothing was shown for ``quiet`` seconds (or after ``at_most``)."""
        await asyncio.to_thread(self._wait_quiet, quiet, time.monotonic() + at_most)

    def _wait_quiet(self, quiet: float, deadline: float) -> None:
        self._shown.clear()
        while self._shown.wait(quiet) and time.monotonic() < deadline:
            self._shown.clear()

    def close(self) -> None:
        for file in self._files.values():
            file.close()
