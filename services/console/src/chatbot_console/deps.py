"""What a request handler gets: the console's parts, made once at start, and the operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from nats.js import JetStreamContext

from .actions import Actions
from .auth import Gate, Operator
from .erasure import Eraser
from .export import Exporter
from .outreach import Outreach
from .overview import Overviews
from .users import Users

__all__ = ["Console", "ConsoleDep", "OperatorDep"]


@dataclass(frozen=True)
class Console:
    """The parts every handler uses."""

    gate: Gate
    users: Users
    actions: Actions
    exporter: Exporter
    eraser: Eraser
    overviews: Overviews
    outreach: Outreach
    js: JetStreamContext


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(_console)]


def _operator(request: Request, console: ConsoleDep) -> Operator:
    return console.gate.operator(request)


OperatorDep = Annotated[Operator, Depends(_operator)]
