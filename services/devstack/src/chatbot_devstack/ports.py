"""The local stack's ports, and free ones for tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, fields

__all__ = ["Ports", "free_port", "port_is_free"]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing accepts connections on ``port`` now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        return probe.connect_ex((host, port)) != 0


def _free_ports(count: int) -> list[int]:
    """``count`` different free ports: each is held until all are picked, so none comes twice."""
    with ExitStack() as held:
        sockets = [
            held.enter_context(closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)))
            for _ in range(count)
        ]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    return _free_ports(1)[0]


@dataclass(frozen=True)
class Ports:
    """The port of each process (the README's *Configuration*, `make run`)."""

    nats: int = 4222
    ingress: int = 8080
    conversation: int = 8081
    sender: int = 8082
    console: int = 8083
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
