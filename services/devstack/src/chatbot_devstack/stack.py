"""The whole system on one machine: nats-server, the sandbox and the three services.

``make run``, the end-to-end and fault tests and the benchmarks all start it here, each process
on its own port with the environment a deployment would give it.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path

from . import processes
from .environment import LocalModes, local_environment, local_modes
from .ports import Ports, port_is_free

__all__ = ["PARTS", "LocalStack", "running_stack", "started_stack"]

SERVICES = ("ingress", "conversation", "sender", "console")
PARTS = ("nats", "sandbox", *SERVICES)
"""Every process of the stack, in start order."""


class LocalStack:
    """nats-server, the sandbox and the three services (or some of them, ``parts``), started
    and stopped in order, on ``ports`` (free ones by default)."""

    def __init__(
        self,
        *,
        ports: Ports | None = None,
        run_dir: Path,
        environment: Mapping[str, str],
        sink: processes.Sink,
        parts: Sequence[str] = PARTS,
    ) -> None:
        if unknown := set(parts) - set(PARTS):
            raise ValueError(f"no such part of the stack: {sorted(unknown)}")
        self.ports = ports = ports or Ports.free()
        self.parts = tuple(name for name in PARTS if name in parts)
        self.run_dir = run_dir
        self.env = local_environment(ports, environment)
        self._sink = sink
        self.processes: dict[str, processes.ManagedProcess] = {}

    @property
    def modes(self) -> LocalModes:
        """What the services of this stack talk to (the sandbox, OpenAI, Twilio)."""
        return local_modes(self.env, self.ports)

    @property
    def chat_url(self) -> str:
        """The sandbox's chat page."""
        return self.url("sandbox") + "/"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, name)}"

    def _spec(self, name: str) -> processes.ProcessSpec:
        port = getattr(self.ports, name)
        if name == "nats":
            return processes.nats_server_spec(port, self.run_dir / "jetstream")
        if name == "sandbox":
            env = self.env | {"SANDBOX_HOST": "127.0.0.1", "SANDBOX_PORT": str(port)}
            url = f"http://127.0.0.1:{port}/healthz"
        else:
            env = self.env | {"HOST": "127.0.0.1", "PORT": str(port)}
            url = f"http://127.0.0.1:{port}/readyz"
        return processes.ProcessSpec(
            name, [processes.find_executable(f"chatbot-{name}")], env, ready_url=url
        )

    def _check_ports(self) -> None:
        ports = [(name, getattr(self.ports, name)) for name in self.parts]
        if busy := [(name, port) for name, port in ports if not port_is_free(port)]:
            listed = ", ".join(f"{port} ({name}, {name.upper()}_PORT)" for name, port in busy)
            raise processes.StackError(
                f"ports already in use: {listed}. Is another `make run` running? Stop it, or "
                "choose other ports."
            )

    async def start(self, timeout: float = 60.0) -> None:
        """Start everything and wait until each process is ready; on failure stop what runs."""
        self._check_ports()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            for group in (("nats",), ("sandbox",), SERVICES):
                starting = [name for name in group if name in self.parts]
                for name in starting:
                    self.processes[name] = processes.ManagedProcess(self._spec(name), self._sink)
                    self.processes[name].start()
                for name in starting:
                    await self.processes[name].ready(timeout)
        except BaseException:
            await self.stop()
            raise

    async def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start one (stopped or killed) process again, as an orchestrator would."""
        process = self.processes[name].respawn()
        self.processes[name] = process
        process.start()
        await process.ready(timeout)

    def exited(self) -> list[str]:
        """The processes that are no longer running."""
        return [name for name, p in self.processes.items() if p.exit_code() is not None]

    async def stop(self) -> None:
        """SIGTERM every process, services first and nats-server last."""
        for name in reversed(list(self.processes)):
            await self.processes[name].stop()


@contextlib.asynccontextmanager
async def running_stack(
    *,
    run_dir: Path,
    environment: Mapping[str, str],
    sink: processes.Sink,
    ports: Ports | None = None,
    parts: Sequence[str] = PARTS,
) -> AsyncIterator[LocalStack]:
    """``async with running_stack(...) as stack``: started on ``ports`` (free ones by default),
    stopped on the way out."""
    stack = LocalStack(
        ports=ports, run_dir=run_dir, environment=environment, sink=sink, parts=parts
    )
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


@contextlib.contextmanager
def started_stack(
    *,
    run_dir: Path | None = None,
    environment: Mapping[str, str],
    sink: processes.Sink,
    ports: Ports | None = None,
    parts: Sequence[str] = PARTS,
) -> Iterator[LocalStack]:
    """:func:`running_stack` for callers outside an event loop (benchmarks, module-scoped
    fixtures): started and stopped each on a short loop of its own, in ``run_dir`` (by default
    a temporary directory)."""
    with contextlib.ExitStack() as context:
        if run_dir is None:
            run_dir = Path(context.enter_context(tempfile.TemporaryDirectory(prefix="stack-")))
        stack = LocalStack(
            ports=ports, run_dir=run_dir, environment=environment, sink=sink, parts=parts
        )
        asyncio.run(stack.start())
        context.callback(lambda: asyncio.run(stack.stop()))
        yield stack
