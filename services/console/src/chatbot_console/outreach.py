"""Messages the business starts (outreach): checked, made idempotent by the caller's key, rate
limited apart from replies, queued to the sender in the user's order, recorded for the model
and audited (docs/console.md, *Sending messages (outreach)*)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from chatbot_common.bus import publish
from chatbot_common.contracts import WHATSAPP_WINDOW, DeskEvent, OutboundMessage, utcnow
from chatbot_common.ratelimit import RateLimited, TokenBucket
from chatbot_common.topology import INBOUND, OUTBOUND

from .actions import Actions
from .auth import Operator
from .metrics import OUTREACH
from .templates import MissingVariable, Templates, UnknownTemplate
from .users import Users

__all__ = [
    "IDEMPOTENCY_HEADER",
    "OUTCOMES",
    "WHATSAPP_ADDRESS",
    "Answer",
    "MessageRequest",
    "Outcome",
    "Outreach",
    "Template",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
WHATSAPP_ADDRESS = re.compile(r"whatsapp:\+[1-9][0-9]{6,14}")
"""``whatsapp:`` and a number in E.164."""
MAX_BODY = 1600
MAX_MEDIA = 10
_MAX_REQUEST = 64 * 1024
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_PLACEHOLDER = re.compile(r"[1-9][0-9]?")

type Outcome = Literal[
    "queued",
    "replayed",
    "opted_out",
    "outside_window",
    "invalid",
    "rate_limited",
    "key_reused",
    "unavailable",
]
"""What became of a request (``chatbot_outreach_requests_total{outcome}``)."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome.__value__)
for _outcome in OUTCOMES:
    OUTREACH.labels(_outcome)


def _address(value: str) -> str:
    if not WHATSAPP_ADDRESS.fullmatch(value):
        raise PydanticCustomError(
            "invalid", "a WhatsApp address: whatsapp:+ and the number in E.164"
        )
    return value


def _content_sid(value: str) -> str:
    if not _CONTENT_SID.fullmatch(value):
        raise PydanticCustomError("invalid", "a Content SID: HX and 32 hex characters")
    return value


def _placeholder(value: str) -> str:
    if not _PLACEHOLDER.fullmatch(value):
        raise PydanticCustomError("invalid", "keys are placeholder numbers, 1 to 99")
    return value


def _body(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("invalid", "an empty body")
    if len(value) > MAX_BODY:
        raise PydanticCustomError("invalid", f"at most {MAX_BODY} characters")
    return value


def _url(value: str) -> str:
    try:
        parts = urlsplit(value)
        web = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        web = False
    if not web or not value.isprintable() or " " in value:
        raise PydanticCustomError("invalid", "each an http(s) URL")
    return value


class Template(BaseModel):
    """An approved WhatsApp template (its Twilio Content SID) and its variables."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    content_sid: Annotated[str, AfterValidator(_content_sid)]
    variables: dict[Annotated[str, AfterValidator(_placeholder)], str] = Field(default_factory=dict)


class MessageRequest(BaseModel):
    """The body of ``POST /api/messages``: a template, or a free-form body and/or media."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    to: Annotated[str, AfterValidator(_address)]
    from_: Annotated[str, AfterValidator(_address)] | None = Field(None, alias="from")
    template: Template | None = None
    body: Annotated[str, AfterValidator(_body)] | None = None
    media_urls: tuple[Annotated[str, AfterValidator(_url)], ...] = Field((), max_length=MAX_MEDIA)

    def fingerprint(self) -> str:
        """The sha256 of the request as canonical JSON: one request, one fingerprint."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    """What the API answers (status, JSON body, headers), and the outcome it counts."""

    status: int
    outcome: Outcome
    body: Mapping[str, str | None]
    headers: dict[str, str] = field(default_factory=dict)


class _Invalid(ValueError):
    def __init__(self, field: str | None, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


class Outreach:
    """Checks a request, answers a repeated key from its record, and queues the message."""

    def __init__(
        self,
        js: JetStreamContext,
        users: Users,
        requests: KeyValue,
        actions: Actions,
        limit: TokenBucket,
        templates: Templates | None,
        *,
        default_from: str | None,
        business_numbers: tuple[str, ...],
        timeout: float,
    ) -> None:
        self._js = js
        self._users = users
        self._requests = requests
        self._actions = actions
        self._limit = limit
        self._templates = templates
        self._default_from = default_from
        self._business = business_numbers
        self._timeout = timeout

    async def send(self, who: Operator, idempotency_keys: Sequence[str], raw: bytes) -> Answer:
        """Answer one request; ``idempotency_keys`` are the request's Idempotency-Key headers."""
        answer = await self._answer(who, idempotency_keys, raw)
        OUTREACH.labels(answer.outcome).inc()
        return answer

    async def _answer(self, who: Operator, idempotency_keys: Sequence[str], raw: bytes) -> Answer:
        try:
            idempotency_key = _checked_key(idempotency_keys)
            asked = self._checked(raw)
            return await self._queue(who, idempotency_key, asked)
        except _Invalid as invalid:
            body = {"error": "invalid", "field": invalid.field, "detail": invalid.detail}
            return Answer(400, "invalid", body)
        except (NatsError, TimeoutError) as error:
            log.warning("outreach not queued: NATS failed (%s)", type(error).__name__)
            detail = f"NATS did not answer: retry with the same {IDEMPOTENCY_HEADER}"
            return Answer(503, "unavailable", {"error": "unavailable", "detail": detail})

    def _checked(self, raw: bytes) -> MessageRequest:
        if len(raw) > _MAX_REQUEST:
            raise _Invalid(None, f"the request is over {_MAX_REQUEST} bytes")
        try:
            asked = MessageRequest.model_validate_json(raw)
        except ValidationError as error:
            raise _first_problem(error) from None
        if asked.template is not None and asked.body is not None:
            raise _Invalid("body", "a template or a body, not both")
        if asked.template is not None and asked.media_urls:
            raise _Invalid("media_urls", "not with a template (a template carries its own media)")
        if asked.template is None and asked.body is None and not asked.media_urls:
            raise _Invalid("body", "a template, or a body (and/or media_urls), is required")
        if asked.from_ is None and self._default_from is None:
            raise _Invalid("from", "required: no default business number (TWILIO_WHATSAPP_FROM)")
        if asked.from_ is not None and self._business and asked.from_ not in self._business:
            raise _Invalid("from", "not one of the business's numbers")
        return asked

    async def _queue(self, who: Operator, idempotency_key: str, asked: MessageRequest) -> Answer:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        record_key, fingerprint = f"outreach.{digest}", asked.fingerprint()
        kept = await self._record(record_key)
        if kept is not None:
            return _replayed(kept, fingerprint)
        business = asked.from_ or self._default_from
        assert business is not None  # checked
        key = self._users.key_of(business, asked.to)
        state = await self._users.state(key) or {}
        if state.get("opted_out"):
            detail = "the user opted out of messages the business starts"
            return Answer(409, "opted_out", {"error": "opted_out", "detail": detail})
        opened = _time(state.get("last_inbound_at"))
        now = utcnow()
        if asked.template is None and (opened is None or now >= opened + WHATSAPP_WINDOW):
            detail = (
                "the user has not written in the last 24 hours (WhatsApp's window): "
                "only a template may be sent; send a template"
            )
            return Answer(422, "outside_window", {"error": "outside_window", "detail": detail})
        said = await self._said(asked)
        try:
            self._limit.reserve(max_wait=0)  # a request over the limit is refused, not queued
        except RateLimited as limited:
            after = str(math.ceil(limited.delay))
            detail = f"over the outreach rate limit: retry after {after} s"
            body = {"error": "rate_limited", "detail": detail}
            return Answer(429, "rate_limited", body, headers={"Retry-After": after})

        message_id = f"{key}.outreach.{digest[:32]}"
        message = _message(asked, message_id, opened)
        await publish(
            self._js, OUTBOUND.subject(key), message, msg_id=idempotency_key, timeout=self._timeout
        )
        delivery = f"outreach:{digest}"
        told = DeskEvent(
            desk="operator",
            event="outreach",
            body=said,
            media_urls=asked.media_urls,
            agent=who.name,
            delivery_id=delivery,
            received_at=now,
        )
        await publish(self._js, INBOUND.subject(key), told, msg_id=delivery, timeout=self._timeout)
        # Audited before the record: a retry after a failure in between audits again rather
        # than never.
        await self._actions.audit(who, "outreach", user_key=key, target=message_id)
        record = {"fingerprint": fingerprint, "id": message_id, "user_key": key}
        try:
            await self._requests.create(record_key, json.dumps(record).encode())
        except KeyWrongLastSequenceError:  # the same key, at the same time
            kept = await self._record(record_key)
            if kept is not None:
                return _replayed(kept, fingerprint)
        log.info("outreach queued", extra={"user_key": key, "outreach_id": message_id})
        return Answer(202, "queued", {"id": message_id, "status": "queued"})

    async def _said(self, asked: MessageRequest) -> str:
        """What the user will read, for the model's context: the body, or the template's text
        from Twilio's Content API (its SID and variables when that cannot be read)."""
        template = asked.template
        if template is None:
            return asked.body or ""
        text = None
        if self._templates is not None:
            try:
                text = await self._templates.text(template.content_sid, template.variables)
            except UnknownTemplate:
                detail = "no such template in the Twilio account"
                raise _Invalid("template.content_sid", detail) from None
            except MissingVariable as missing:
                raise _Invalid("template.variables", f"no value for {missing}") from None
        if text is not None:
            return text
        variables = json.dumps(template.variables, ensure_ascii=False)
        return f"Template {template.content_sid} with variables {variables}"

    async def _record(self, record_key: str) -> dict[str, Any] | None:
        try:
            entry = await self._requests.get(record_key)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        kept: dict[str, Any] = json.loads(entry.value)
        return kept


def _checked_key(given: Sequence[str]) -> str:
    if len(given) != 1 or not _IDEMPOTENCY_KEY.fullmatch(given[0]):
        raise _Invalid(
            IDEMPOTENCY_HEADER,
            "required, once: 1 to 255 visible ASCII characters, new for each message",
        )
    return given[0]


def _first_problem(error: ValidationError) -> _Invalid:
    """The first problem, named by its field's path (``template.content_sid``)."""
    first = error.errors()[0]
    if first["type"] == "extra_forbidden":
        return _Invalid(".".join(str(part) for part in first["loc"]), "an unknown field")
    path: list[str] = []
    for part in first["loc"]:
        if not isinstance(part, str) or part == "[key]":
            break
        path.append(part)
        if part in ("variables", "media_urls"):
            break
    return _Invalid(".".join(path) or None, first["msg"])


def _replayed(kept: dict[str, Any], fingerprint: str) -> Answer:
    if kept.get("fingerprint") != fingerprint:
        detail = f"this {IDEMPOTENCY_HEADER} was used for another request: use a new one"
        return Answer(422, "key_reused", {"error": "idempotency_key_reused", "detail": detail})
    return Answer(202, "replayed", {"id": kept["id"], "status": "queued"})


def _message(asked: MessageRequest, message_id: str, opened: datetime | None) -> OutboundMessage:
    if asked.template is not None:
        return OutboundMessage(
            kind="template",
            to=asked.to,
            from_=asked.from_,
            content_sid=asked.template.content_sid,
            content_variables=asked.template.variables,
            idempotency_key=message_id,
            outreach=True,
        )
    return OutboundMessage(
        kind="text" if asked.body is not None else "media",
        to=asked.to,
        from_=asked.from_,
        body=asked.body or "",
        media_urls=asked.media_urls,
        idempotency_key=message_id,
        window_opened_at=opened,
        outreach=True,
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
