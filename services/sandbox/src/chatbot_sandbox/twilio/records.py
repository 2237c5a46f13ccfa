"""What the fake Twilio keeps: requests, callbacks, media, and the faults and closed 24-hour
windows tests set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

__all__ = [
    "MediaFetchRecord",
    "StatusCallbackRecord",
    "StoredMedia",
    "TwilioFault",
    "TwilioMessageRecord",
    "TwilioWindow",
    "TypingIndicatorRecord",
]


@dataclass(slots=True)
class TwilioMessageRecord:
    """One ``Messages.json`` create: accepted (201, with its SID) or refused (with a code).

    With a ``content_sid``, ``body`` is the template's text as rendered (once accepted), and
    ``content_variables`` the JSON string as sent.
    """

    account_sid: str
    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: list[str]
    status_callback: str | None
    content_sid: str | None = None
    content_variables: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_code: int = 201
    sid: str | None = None
    error_code: int | None = None


@dataclass(slots=True)
class TypingIndicatorRecord:
    """One typing indicator request, answered 200 or refused with a code."""

    channel: str | None
    message_id: str | None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_code: int = 200
    error_code: int | None = None


@dataclass(slots=True)
class StatusCallbackRecord:
    """One status callback posted, with the answer it got (or the error that stopped it)."""

    message_sid: str
    status: str
    error_code: int | None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    response_status: int | None = None
    error: str | None = None


@dataclass(slots=True)
class StoredMedia:
    """A user's attachment, as Twilio keeps a received message's media.

    ``token`` names its CDN copy; ``cdn_base`` is the origin its media URL redirects to (None:
    the origin the download came to).
    """

    sid: str
    message_sid: str
    content_type: str
    data: bytes
    token: str
    cdn_base: str | None = None


@dataclass(slots=True)
class MediaFetchRecord:
    """A media download: ``api`` (Basic auth, then a redirect) or ``cdn`` (the copy itself).

    ``authorized`` says whether it carried an Authorization header at all.
    """

    stage: Literal["api", "cdn"]
    status_code: int
    authorized: bool
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error_code: int | None = None


class TwilioFault(BaseModel):
    """How the fake misbehaves for the next ``times`` matching requests."""

    operation: Literal["messages", "typing", "media"] = Field(
        "messages", description="Messages create, the typing indicator or a media download."
    )
    to: str | None = Field(None, description="Only Messages creates to this address.")
    times: int = Field(1, ge=1, description="How many matching requests it hits.")
    probability: float = Field(
        1.0, gt=0, le=1, description="Chance a matching request is hit (SANDBOX_FAULT_SEED)."
    )
    delay: float = Field(0.0, ge=0, le=60, description="Seconds before answering.")
    status: int | None = Field(None, ge=400, le=599, description="Answer this HTTP error.")
    code: int | None = Field(None, description="Twilio error code of the error answer.")
    retry_after: str | None = Field(None, description="Retry-After header of the error answer.")
    delivery_error_code: int | None = Field(
        None, description="Accept the message, then report it `failed` with this ErrorCode."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TwilioFault:
        if self.status is None and (self.code is not None or self.retry_after is not None):
            raise ValueError("an error code or Retry-After needs an HTTP status")
        if self.status is not None and self.delivery_error_code is not None:
            raise ValueError("a refused request cannot fail its delivery later")
        return self


class TwilioWindow(BaseModel):
    """A user's 24-hour window, closed or open again; the user writing again opens it too.

    While it is closed, a free-form message to them fails with 63016 (a template goes through):
    accepted, then reported ``failed`` (``callback``, as WhatsApp does), or refused (``sync``).
    """

    to: str = Field(pattern=r"^whatsapp:\+[1-9][0-9]{6,14}$", description="The user's address.")
    open: bool = Field(False, description="Open it again (false: close it).")
    refusal: Literal["callback", "sync"] = Field(
        "callback", description="How a free-form message fails while it is closed."
    )
