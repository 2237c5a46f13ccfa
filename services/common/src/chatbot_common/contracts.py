"""The messages the services exchange over NATS (docs/architecture.md, *Contracts*).

Every payload is JSON with a contract version ``v``. A reader accepts only the versions it
knows and rejects anything else with a :class:`ContractError` naming the first problem, so a
malformed message goes to the dead-letter stream with a reason instead of crashing a worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

__all__ = [
    "WHATSAPP_WINDOW",
    "AuditEvent",
    "Button",
    "Contract",
    "ContractError",
    "DeadLetter",
    "DeliveryStatus",
    "DeskEvent",
    "InboundMessage",
    "Location",
    "Media",
    "OutboundMessage",
    "UserInbound",
    "decode",
    "decode_user_inbound",
    "encode",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware (contracts never carry naive datetimes)."""
    return datetime.now(UTC)


NonEmpty = Annotated[str, Field(min_length=1)]


class Contract(BaseModel):
    """Base of every wire message: strict, immutable, JSON by alias."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )


class Media(Contract):
    """One attachment of an inbound message, as Twilio announces it."""

    url: NonEmpty
    content_type: str = ""


class Location(Contract):
    """A shared WhatsApp location."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: str | None = None
    label: str | None = None


class Button(Contract):
    """A quick-reply button the user pressed."""

    text: str | None = None
    payload: str | None = None


class InboundMessage(Contract):
    """A WhatsApp message that reached ingress; published on ``chat.inbound.<user_key>``."""

    v: Literal[1] = 1
    message_sid: NonEmpty
    account_sid: NonEmpty
    messaging_service_sid: str | None = None
    from_: NonEmpty = Field(alias="from")
    to: NonEmpty
    body: str = ""
    profile_name: str | None = None
    wa_id: str | None = None
    media: tuple[Media, ...] = ()
    location: Location | None = None
    button: Button | None = None
    original_replied_message_sid: str | None = None
    received_at: datetime
    extra: dict[str, str] = Field(
        default_factory=dict, description="Webhook fields this version does not know, kept."
    )


class DeskEvent(Contract):
    """Something done about a user from outside their chat: by a helpdesk (a person's message,
    a hand-back), by the handoff's idle timer, or by an operator (a hand-off or hand-back, a
    reset, an erase, a message the business sent: ``outreach``, recorded for the model);
    published on ``chat.inbound.<user_key>``.

    It shares the user's subject with their messages, so one per-user order covers both
    (docs/handoff.md). ``delivery_id`` is its ``Nats-Msg-Id``.
    """

    v: Literal[1] = 1
    kind: Literal["desk"] = "desk"
    desk: Literal["chatwoot", "webhook", "operator", "timer"]
    event: Literal[
        "agent_message", "handback", "idle_check", "reset", "handoff", "erase", "outreach"
    ]
    conversation: str = Field("", description="The desk's conversation id (none from a timer).")
    delivery_id: NonEmpty
    body: str = ""
    media_urls: tuple[str, ...] = ()
    agent: str | None = Field(None, description="The agent's display name, for the record.")
    status: str | None = Field(None, description="The desk's new status, on a handback.")
    received_at: datetime

    @model_validator(mode="after")
    def _check_event(self) -> DeskEvent:
        if self.event in ("agent_message", "outreach") and not (
            self.body.strip() or self.media_urls
        ):
            raise ValueError(f"an {self.event} event needs a body or media")
        return self


def _inbound_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return "desk" if kind == "desk" else "message"


type UserInbound = Annotated[
    Annotated[InboundMessage, Tag("message")] | Annotated[DeskEvent, Tag("desk")],
    Discriminator(_inbound_tag),
]
"""What ``chat.inbound.<user_key>`` carries: the user's message, or a desk's event."""

_USER_INBOUND: TypeAdapter[InboundMessage | DeskEvent] = TypeAdapter(UserInbound)


WHATSAPP_WINDOW = timedelta(hours=24)
"""How long after a user's last message WhatsApp lets a business send free-form messages."""


class OutboundMessage(Contract):
    """Something to send to a user; published on ``chat.outbound.<user_key>``.

    ``idempotency_key`` names the message (a reply's is derived from the inbound sequence range
    it answers); the sender records each part it sent under it, so a redelivery never sends a
    part twice. ``text`` and ``media`` are free-form and need the user's 24-hour window;
    ``template`` is an approved WhatsApp template; ``reengage`` asks the sender for the
    configured re-engagement template in place of a message that found the window closed.
    """

    v: Literal[1] = 1
    kind: Literal["text", "media", "typing", "template", "reengage"]
    to: NonEmpty
    from_: str | None = Field(default=None, alias="from")
    messaging_service_sid: str | None = None
    body: str = ""
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = Field(
        None, pattern=r"^HX[0-9a-fA-F]{32}$", description="The template (Twilio Content SID)."
    )
    content_variables: dict[str, str] = Field(
        default_factory=dict, description="The template's variables, by placeholder number."
    )
    in_reply_to: tuple[str, ...] = ()
    idempotency_key: NonEmpty
    received_at: datetime | None = Field(
        default=None, description="When ingress received the first message this answers."
    )
    window_opened_at: datetime | None = Field(
        default=None,
        description="The user's last message: a free-form message may leave until 24 h after.",
    )
    outreach: bool = Field(False, description="Started by the business, not a reply.")

    @model_validator(mode="after")
    def _check_kind(self) -> OutboundMessage:
        if self.kind == "text" and not self.body.strip():
            raise ValueError("a text message needs a non-empty body")
        if self.kind == "media" and not self.media_urls:
            raise ValueError("a media message needs at least one media URL")
        if self.kind == "typing" and not self.in_reply_to:
            raise ValueError("a typing indicator needs the inbound message SID in in_reply_to")
        if self.kind == "template" and self.content_sid is None:
            raise ValueError("a template message needs its content_sid")
        return self

    @property
    def free_form(self) -> bool:
        """Whether WhatsApp's 24-hour window applies to it."""
        return self.kind in ("text", "media")

    def window_closed(self, now: datetime) -> bool:
        """Whether this free-form message would leave after the user's window closed."""
        opened = self.window_opened_at
        return self.free_form and opened is not None and now >= opened + WHATSAPP_WINDOW


class DeliveryStatus(Contract):
    """A Twilio status callback; published on ``chat.events.status.<user_key>``."""

    v: Literal[1] = 1
    message_sid: NonEmpty
    account_sid: NonEmpty
    status: NonEmpty
    error_code: int | None = None
    error_message: str | None = None
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    received_at: datetime
    extra: dict[str, str] = Field(default_factory=dict)


class DeadLetter(Contract):
    """A message a service gave up on; published on ``chat.dlq.<service>``."""

    v: Literal[1] = 1
    service: NonEmpty
    reason: NonEmpty
    error_code: str | None = None
    attempts: int = Field(ge=1)
    original_subject: NonEmpty
    original_id: str | None = None
    original_payload: str = Field(description="The original payload, as text (UTF-8, replaced).")
    original_size: int | None = Field(
        default=None,
        ge=0,
        description="Bytes of the original payload when original_payload keeps only its start.",
    )
    failed_at: datetime = Field(default_factory=utcnow)


class AuditEvent(Contract):
    """What an operator did through the console; published on ``chat.audit.<action>``.

    It names the user by their key only, never by their number.
    """

    v: Literal[1] = 1
    operator: NonEmpty
    action: NonEmpty
    user_key: str | None = None
    target: str | None = Field(None, description="What else the action was about: a record.")
    at: datetime = Field(default_factory=utcnow)


class ContractError(ValueError):
    """A payload that is not a valid message of the expected contract."""


def encode(message: Contract) -> bytes:
    """Serialise a contract message to its wire form."""
    return message.model_dump_json(exclude_none=True).encode()


def decode[Model: Contract](model: type[Model], data: bytes) -> Model:
    """Parse ``data`` as ``model``; raise :class:`ContractError` with the first problem."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise _first_problem(model.__name__, exc) from None


def decode_user_inbound(data: bytes) -> InboundMessage | DeskEvent:
    """Parse a ``chat.inbound`` payload; raise :class:`ContractError` with the first problem."""
    try:
        return _USER_INBOUND.validate_json(data)
    except ValidationError as exc:
        raise _first_problem("inbound", exc) from None


def _first_problem(name: str, exc: ValidationError) -> ContractError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return ContractError(f"invalid {name}: {where}: {first['msg']} ({exc.error_count()} error(s))")
