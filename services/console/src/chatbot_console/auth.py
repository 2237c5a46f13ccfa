"""Who may use the console: a bearer token for scripts, a login and a session for the page.

The page's session cookie is HttpOnly and SameSite=Strict; every form and every state-changing
request from the page carries the session's CSRF token. Failed logins are counted, and a client
that fails too often waits (docs/console.md, *Auth*).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass

from fastapi import HTTPException, Request

from .metrics import LOGINS

__all__ = ["Gate", "Operator"]

_WINDOW = 60.0
"""Seconds over which a client's failed logins are counted."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPERATOR_HEADER = "X-Operator"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Operator:
    """Who asks: the name they gave (recorded in the audit stream)."""

    name: str


class Gate:
    """Checks the token, the session and CSRF, and throttles failed logins per client."""

    def __init__(self, token: str, *, attempts: int) -> None:
        self._token = token.encode()
        self._attempts = attempts
        self._failures: dict[str, deque[float]] = {}

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the operators' token (compared in constant time)."""
        return hmac.compare_digest(given.encode(), self._token)

    def operator(self, request: Request) -> Operator:
        """The operator of an API request; 401 without a token or a session, 403 without
        the session's CSRF token on a request that changes something."""
        authorization = request.headers.get("authorization", "")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and given:
            if not self.matches(given.strip()):
                raise HTTPException(401, "the bearer token is wrong")
            name = request.headers.get(OPERATOR_HEADER, "").strip() or "api"
            return Operator(_printable(name))
        name = str(request.session.get("operator") or "")
        if not name:
            raise HTTPException(
                401, "log in, or send Authorization: Bearer <CONSOLE_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        if request.method not in _SAFE_METHODS:
            self.check_csrf(request, request.headers.get(CSRF_HEADER, ""))
        return Operator(name)

    @staticmethod
    def check_csrf(request: Request, given: str) -> None:
        """403 unless ``given`` is the session's CSRF token."""
        expected = request.session.get("csrf", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(403, "missing or wrong CSRF token")

    @staticmethod
    def csrf_token(request: Request) -> str:
        """The session's CSRF token, made when it has none."""
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return str(token)

    def throttled(self, client: str) -> bool:
        """Whether ``client`` failed to log in too often in the last minute."""
        failures = self._failures.get(client)
        if failures is None:
            return False
        while failures and time.monotonic() - failures[0] > _WINDOW:
            failures.popleft()
        if not failures:
            del self._failures[client]  # a client that stopped failing costs nothing
        return len(failures) >= self._attempts

    def failed(self, client: str) -> None:
        """Count a failed login of ``client``."""
        self._failures.setdefault(client, deque()).append(time.monotonic())
        LOGINS.labels("refused").inc()


def _printable(name: str) -> str:
    """An operator name as the audit stream keeps it: printable, at most 64 characters."""
    return "".join(c for c in name if c.isprintable())[:64] or "api"
