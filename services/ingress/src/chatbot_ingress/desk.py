"""A helpdesk's webhooks, whichever the desk: how they are signed, and reading their JSON.

Every desk signs ``"<timestamp>.<raw body>"`` with its webhook secret (HMAC-SHA256, sent as
``sha256=<hex>``), in two headers of its own: Chatwoot's ``X-Chatwoot-*`` (:mod:`.chatwoot`),
the generic desk's ``X-Chatbot-*`` (:mod:`.webhook_desk`). A :class:`Desk` names them, and
the reader that turns a webhook into the desk event it publishes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from starlette.types import Scope

from chatbot_common.contracts import DeskEvent
from chatbot_common.userkey import USER_KEY_LENGTH

from .asgi import header

__all__ = [
    "Desk",
    "DeskPayloadError",
    "DeskReader",
    "DeskSignature",
    "DeskUpdate",
    "field",
    "is_user_key",
    "json_object",
    "optional",
]

_MAX_AGE = 300
"""Seconds a webhook's timestamp may be off from now, either way: the window for a replay."""

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_USER_KEY = re.compile(f"[0-9a-f]{{{USER_KEY_LENGTH}}}")
_KINDS: dict[type, str] = {
    str: "a string",
    int: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


class DeskSignature:
    """Checks a webhook's signature header and that its timestamp header is recent.

    An empty secret makes no signature valid.
    """

    def __init__(self, secret: str, *, timestamp: str, signature: str) -> None:
        self._secret = secret.encode()
        self._names = (timestamp, signature)
        self._keys = (timestamp.lower().encode(), signature.lower().encode())

    def problem(self, scope: Scope, body: bytes, *, now: float) -> str | None:
        """What is wrong with the request's signature or timestamp; None when both hold."""
        (timestamp_name, signature_name), (timestamp_key, signature_key) = self._names, self._keys
        timestamp, signature = header(scope, timestamp_key), header(scope, signature_key)
        if not timestamp or not signature:
            return f"missing {timestamp_name} or {signature_name}"
        if not _UNIX_SECONDS.fullmatch(timestamp):
            return f"{timestamp_name} is not unix seconds"
        digest = hmac.new(self._secret, timestamp.encode() + b"." + body, hashlib.sha256)
        expected = b"sha256=" + digest.hexdigest().encode()
        if not self._secret or not hmac.compare_digest(expected, signature.encode("latin-1")):
            return f"invalid {signature_name}"
        if abs(now - int(timestamp)) > _MAX_AGE:
            return f"{timestamp_name} is more than {_MAX_AGE} s from now"
        return None


class DeskPayloadError(ValueError):
    """A webhook body that is not a JSON object, or lacks a field its event needs."""


@dataclass(frozen=True, slots=True)
class DeskUpdate:
    """A webhook that matters: its desk event, and whom it is for.

    The event's ``delivery_id`` is its ``Nats-Msg-Id``. ``user`` is None when the webhook
    names no user key.
    """

    event: DeskEvent
    user: str | None


class DeskReader(Protocol):
    """The desk event in a webhook (its signature checked), or None when it is none that
    matters; raises :class:`DeskPayloadError` naming the first problem."""

    def __call__(
        self, scope: Scope, body: bytes, /, *, received_at: datetime
    ) -> DeskUpdate | None: ...


@dataclass(frozen=True, slots=True)
class Desk:
    """One desk's webhooks, taken at ``POST /desk/<name>``.

    ``user_field`` is where a webhook names its user, for the answer when it names none.
    """

    name: str
    timestamp_header: str
    signature_header: str
    user_field: str
    read: DeskReader

    @property
    def path(self) -> str:
        return f"/desk/{self.name}"

    def signature(self, secret: str) -> DeskSignature:
        """The check of this desk's webhooks signed with ``secret``."""
        return DeskSignature(
            secret, timestamp=self.timestamp_header, signature=self.signature_header
        )


def json_object(body: bytes) -> dict[str, Any]:
    """The JSON object a webhook's body is."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise DeskPayloadError("body is not JSON") from None
    if not isinstance(payload, dict):
        raise DeskPayloadError("body is not a JSON object")
    return payload


def field[T](data: dict[str, Any], name: str, kind: type[T], *, where: str = "") -> T:
    """``data[name]`` when it is of the JSON ``kind`` (true is no number here)."""
    value = optional(data, name, kind, where=where)
    if value is None:
        raise DeskPayloadError(f"{where}{name}: missing, or not {_KINDS[kind]}")
    return value


def optional[T](data: dict[str, Any], name: str, kind: type[T], *, where: str = "") -> T | None:
    """``data[name]`` when it is of the JSON ``kind``; None when it is absent or null."""
    value = data.get(name)
    if value is None or (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))):
        return value
    raise DeskPayloadError(f"{where}{name}: not {_KINDS[kind]}")


def is_user_key(value: object) -> bool:
    """Whether ``value`` is a user key (what ``chat.inbound.<user_key>`` takes)."""
    return isinstance(value, str) and _USER_KEY.fullmatch(value) is not None
