"""What the fake Twilio keeps: requests, callbacks, media, faults and closed 24-hour windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

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
    """One ``Messages.json`` create: accepted (201, with its SID) or refused (with a code); a
    template's ``body`` is its rendered text."""

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
    response_status: int | None = None
    error: str | None = None


@dataclass(slots=True)
class StoredMedia:
    """A user's attachment: ``token`` names its CDN copy, at ``cdn_base`` (None: the origin
    the download came to)."""

    sid: str
    message_sid: str
    content_type: str
    data: bytes
    token: str
    cdn_base: str | None = None


@dataclass(slots=True)
class MediaFetchRecord:
    """A media download: ``api`` (Basic auth, then a redirect) or ``cdn`` (the copy itself);
    ``authorized``: it carried an Authorization header."""

    stage: Literal["api", "cdn"]
    status_code: int
    authorized: bool
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


class TwilioWindow(BaseModel):
    """A user's 24-hour window: while closed, a free-form message to them is accepted, then
    reported ``failed`` with 63016, as on WhatsApp."""

    to: str = Field(pattern=r"^whatsapp:\+[1-9][0-9]{6,14}$", description="The user's address.")
    open: bool = Field(False, description="Open it again (false: close it).")
