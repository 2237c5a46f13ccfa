"""``make run``: the whole system on this machine, on the local defaults, until Ctrl-C.

Settings come from the environment, then from ``.env`` (real OpenAI or Twilio keys go there),
then from the local defaults.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .environment import EXAMPLE_TOOLS, LocalModes, example_tools_file
from .ports import Ports, port_is_free
from .processes import StackError
from .runlog import RunLog
from .stack import LocalStack

__all__ = ["RunSettings", "banner", "free_ports_instead", "main"]


class RunSettings(BaseSettings):
    """Ports and the state directory of the local run."""

    model_config = SettingsConfigDict(extra="ignore", env_file=".env")

    nats_port: int = Field(4222, description="NATS client port.")
    ingress_port: int = Field(8080, description="ingress (Twilio webhooks).")
    conversation_port: int = Field(8081, description="conversation health and metrics.")
    sender_port: int = Field(8082, description="sender health and metrics.")
    console_port: int = Field(8083, description="console: the operators' page and API.")
    sandbox_port: int = Field(8090, description="sandbox: chat page, fake Twilio, responder.")
    run_dir: Path = Field(
        Path(".run"), description="Where JetStream keeps its files, and each process its log."
    )

    def ports(self) -> Ports:
        return Ports(
            nats=self.nats_port,
            ingress=self.ingress_port,
            conversation=self.conversation_port,
            sender=self.sender_port,
            console=self.console_port,
            sandbox=self.sandbox_port,
        )

    def chosen(self, names: Iterable[str]) -> set[str]:
        """Which of the processes ``names`` have a port the user set (environment or .env)."""
        return {name for name in names if f"{name}_port" in self.model_fields_set}


def free_ports_instead(ports: Ports, chosen: set[str]) -> tuple[Ports, str | None]:
    """``ports``, with each busy one the user did not choose moved to the next free port.

    Also the message that says so; a busy port the user chose is a :class:`StackError` that
    names every busy port at once.
    """
    busy = [(name, port) for name, port in ports.items() if not port_is_free(port)]
    if not busy:
        return ports, None
    listed = ", ".join(f"{port} ({name})" for name, port in busy)
    if stuck := [name for name, _ in busy if name in chosen]:
        settings = ", ".join(f"{name.upper()}_PORT" for name in stuck)
        raise StackError(
            f"ports {listed} are already in use (another `make run`?), and you set {settings}: "
            "stop the other process, or choose other ports."
        )
    taken = {port for _, port in ports.items()}
    moved: dict[str, int] = {}
    for name, port in busy:
        candidate = port + 1
        while candidate in taken or not port_is_free(candidate):
            candidate += 1
        taken.add(candidate)
        moved[name] = candidate
    instead = ", ".join(f"{port} ({name})" for name, port in moved.items())
    exports = " ".join(f"{name.upper()}_PORT={port}" for name, port in moved.items())
    message = (
        f"make run: ports {listed} are in use (another `make run`?); using {instead} instead. "
        f"To reach this run from another shell: export {exports}"
    )
    return dataclasses.replace(ports, **moved), message


def _model_line(modes: LocalModes) -> str:
    if modes.model_provider == "sandbox":
        return (
            f"{modes.model_label}: the sandbox's echo responder, not a real model "
            "(set OPENAI_API_KEY in .env for OpenAI)"
        )
    if modes.model_provider == "openai":
        return f"{modes.model_label} on OpenAI ({modes.model_url})"
    return f"{modes.model_label} on the OpenAI-compatible server at {modes.model_url}"


def _twilio_lines(modes: LocalModes, stack: LocalStack) -> list[str]:
    if not modes.twilio_real:
        return [f"  twilio        the sandbox's fake Twilio at {stack.url('sandbox')}"]
    lines = [
        f"  twilio        REAL Twilio ({modes.twilio_url}): replies go to real WhatsApp users",
        f"                and not to the chat page; Twilio calls {modes.public_base_url}",
    ]
    if modes.public_url_is_local:
        lines.append(
            "  WARNING       PUBLIC_BASE_URL is a local address that Twilio cannot reach: set "
            "it to your tunnel's https origin"
        )
    return lines


def _tools_line(stack: LocalStack) -> str:
    tools = stack.env.get("TOOLS_FILE")
    if tools is None:
        return "none"
    if Path(tools).parent.resolve() == stack.run_dir.resolve():
        names = ", ".join(EXAMPLE_TOOLS)
        return f"{names}: the sandbox's examples (try: lookup_order 1042); TOOLS_FILE for yours"
    return f"from {tools}"


def _handoff_line(stack: LocalStack) -> str:
    desk = stack.env.get("HANDOFF_DESK", "none")
    if desk == "none":
        return "none (HANDOFF_DESK)"
    if stack.env.get("CHATWOOT_BASE_URL") == stack.url("sandbox"):
        return "the sandbox's Chatwoot: write 'person', answer from the chat page's Agent pane"
    return f"{desk} (HANDOFF_DESK)"


def banner(stack: LocalStack, logs: Path) -> str:
    """What `make run` prints once everything is ready: where to look, and what is real."""
    modes = stack.modes
    return "\n".join(
        [
            "",
            "chatbot is running. Ctrl-C stops everything.",
            f"  chat page     {stack.chat_url}   <- open this in a browser (or: make chat)",
            f"  webhooks      {stack.url('ingress')}/twilio/messages  (and /twilio/status)",
            f"  conversation  {stack.url('conversation')}/metrics",
            f"  sender        {stack.url('sender')}/metrics",
            f"  console       {stack.url('console')}/   token {stack.env['CONSOLE_TOKEN']}",
            f"  sandbox       {stack.url('sandbox')}/_sandbox/info",
            f"  nats          nats://127.0.0.1:{stack.ports.nats}  (JetStream in {stack.run_dir})",
            f"  logs          {logs}/<process>.log  (all each process printed)",
            f"  model         {_model_line(modes)}",
            f"  tools         {_tools_line(stack)}",
            f"  handoff       {_handoff_line(stack)}",
            *_twilio_lines(modes, stack),
            "",
        ]
    )


async def _run(stack: LocalStack, log: RunLog) -> int:
    """Start the stack, wait for Ctrl-C (or a process dying), stop everything; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stack.start()
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    await log.settled()
    print(banner(stack, log.directory), flush=True)  # noqa: T201
    stopping = asyncio.create_task(stop.wait())
    exits = [asyncio.create_task(process.exited()) for process in stack.processes.values()]
    await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
    for task in (stopping, *exits):
        task.cancel()
    if dead := stack.exited():
        print(f"make run: {', '.join(dead)} exited; stopping", file=sys.stderr)  # noqa: T201
    print("stopping...", flush=True)  # noqa: T201
    await stack.stop()
    return 0 if stop.is_set() else 1


def main() -> None:
    """``chatbot-run``: the ports, the environment, the log, then the stack until Ctrl-C."""
    file_values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    environment = file_values | dict(os.environ)
    settings = RunSettings()
    try:
        ports, moved = free_ports_instead(settings.ports(), settings.chosen(Ports().names()))
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr)  # noqa: T201
        sys.exit(1)
    if moved:
        print(moved, file=sys.stderr, flush=True)  # noqa: T201
    if "TOOLS_FILE" not in environment:
        sandbox = f"http://127.0.0.1:{ports.sandbox}"
        environment["TOOLS_FILE"] = str(example_tools_file(settings.run_dir, sandbox).resolve())
    log = RunLog(settings.run_dir / "logs", sys.stdout, colour=sys.stdout.isatty())
    stack = LocalStack(ports=ports, run_dir=settings.run_dir, environment=environment, sink=log)
    try:
        sys.exit(asyncio.run(_run(stack, log)))
    finally:
        log.close()
