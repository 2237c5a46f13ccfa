"""One child process of the stack: started, its output lines sent on, awaited ready, stopped."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "ManagedProcess",
    "ProcessSpec",
    "Sink",
    "StackError",
    "find_executable",
    "nats_server_spec",
]

Sink = Callable[[str, str], None]
"""Receives each output line of a process: (process name, line)."""

_CHECK_EVERY = 0.05
"""Seconds between two readiness checks while the process runs."""


class StackError(RuntimeError):
    """A process of the local stack could not be started."""


def find_executable(name: str) -> str:
    """A console script of this environment (next to the interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found: run `make install` first")
    return found


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one process, and how to know it is ready: a 200 from ``ready_url``, or
    ``ready_port`` accepting connections."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    ready_port: int | None = None


class ManagedProcess:
    """A child process whose output lines go to a sink, with readiness and shutdown.

    A thread reads the output, so the process never blocks on a full pipe, whether or not an
    event loop is running (a module-scoped fixture starts the stack once and then leaves it).
    """

    def __init__(self, spec: ProcessSpec, sink: Sink) -> None:
        self.spec = spec
        self._sink = sink
        self._recent: deque[str] = deque(maxlen=30)
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        """The process id once started (the benchmarks sample its memory and CPU)."""
        return None if self._popen is None else self._popen.pid

    def start(self) -> None:
        self._popen = subprocess.Popen(  # noqa: S603 - argv built from fixed names
            self.spec.argv,
            env=self.spec.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the runner only; it stops children in order
        )
        self._reader = threading.Thread(target=self._pump, name=f"out-{self.name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self._popen is not None
        assert self._popen.stdout is not None
        with self._popen.stdout as output:
            for line in output:
                line = line.rstrip("\n")
                self._recent.append(line)
                self._sink(self.name, line)

    def respawn(self) -> ManagedProcess:
        """A new, unstarted process with the same spec and sink (after a stop or a kill)."""
        return ManagedProcess(self.spec, self._sink)

    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def recent_output(self) -> str:
        return "\n".join(self._recent)

    async def _answers(self, http: httpx.AsyncClient) -> bool:
        if self.spec.ready_port is not None:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.spec.ready_port)
            except OSError:
                return False
            writer.close()
        if self.spec.ready_url is not None:
            try:
                answer = await http.get(self.spec.ready_url)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200
        return True

    async def ready(self, timeout: float) -> None:
        """Return once the process is ready; StackError if it exits or ``timeout`` passes."""
        try:
            async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=1) as http:
                while not await self._answers(http):
                    if (code := await self.wait(_CHECK_EVERY)) is not None:
                        if self._reader is not None:
                            await asyncio.to_thread(self._reader.join, 5)
                        raise StackError(
                            f"{self.name} exited with code {code}:\n{self.recent_output()}"
                        )
        except TimeoutError:
            raise StackError(f"{self.name} not ready after {timeout:g}s") from None

    async def exited(self) -> int:
        """Wait until the process has exited; its exit code."""
        assert self._popen is not None
        return await asyncio.to_thread(self._popen.wait)

    def signal(self, signum: signal.Signals) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signum)

    async def wait(self, timeout: float) -> int | None:
        """The exit code, or None if the process still runs after ``timeout`` seconds."""
        if self._popen is None:
            return None
        try:
            return await asyncio.to_thread(self._popen.wait, timeout)
        except subprocess.TimeoutExpired:
            return None

    async def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        self.signal(signal.SIGTERM)
        if await self.wait(timeout) is None:
            await self.kill()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 5)

    async def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        self.signal(signal.SIGKILL)
        await self.wait(10)


def nats_server_spec(port: int, store_dir: Path, name: str = "nats") -> ProcessSpec:
    """nats-server with JetStream, on loopback, storing under ``store_dir``."""
    return ProcessSpec(
        name=name,
        argv=[
            find_executable("nats-server"),
            "--addr",
            "127.0.0.1",
            "--port",
            str(port),
            "--jetstream",
            "--store_dir",
            str(store_dir),
        ],
        env={"PATH": os.environ.get("PATH", "")},
        ready_port=port,
    )
