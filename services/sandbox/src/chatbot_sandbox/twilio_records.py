"""What the fake Twilio API keeps besides Messages creates: faults, typing, callbacks, media.

Tests make the fake fail the way Twilio does (an error code, a Retry-After, a slow answer, a
delivery that fails later) by adding a :class:`TwilioFault`, in-process or through
``POST /_sandbox/twilio/faults``; typing indicators, the status callbacks the fake posted and
every download of inbound media are recorded for them to inspect, and uploaded media is kept
as :class:`StoredMedia`. The store holds these next to its other records; they live in this
module, which imports nothing of the sandbox, so the store can import them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

__all__ = [
    "MediaFetchRecord",
    "StatusCallbackRecord",
    "StoredMedia",
    "TwilioFault",
    "TypingIndicatorRecord",
    "take_fault",
]


class TwilioFault(BaseModel):
    """How the fake misbehaves for the next ``times`` matching requests."""

    operation: Literal["messages", "typing", "media"] = Field(
        "messages",
        description="Which endpoint: Messages create, the typing indicator or a media download.",
    )
    to: str | None = Field(None, description="Only Messages creates to this address.")
    times: int = Field(1, ge=1, description="How many matching requests it applies to.")
    probability: float = Field(
        1.0,
        gt=0,
        le=1,
        description=(
            "Chance that a matching request is hit (draws seeded by SANDBOX_FAULT_SEED); "
            "`times` counts the hits. A storm is a fault with a probability and a large `times`."
        ),
    )
    delay: float = Field(0.0, ge=0, le=60, description="Seconds before answering.")
    status: int | None = Field(
        None, ge=400, le=599, description="Answer this HTTP error instead of accepting."
    )
    code: int | None = Field(None, description="Twilio error code of the error answer.")
    message: str = Field("Injected by the sandbox", description="Message of the error answer.")
    retry_after: str | None = Field(None, description="Retry-After header of the error answer.")
    delivery_error_code: int | None = Field(
        None, description="Accept the message, then report it `failed` with this ErrorCode."
    )

    @model_validator(mode="after")
    def _error_needs_status(self) -> TwilioFault:
        if self.status is None and (self.code is not None or self.retry_after is not None):
            raise ValueError("an error code or Retry-After needs an HTTP status")
        if self.status is not None and self.delivery_error_code is not None:
            raise ValueError("a refused request cannot fail its delivery later")
        return self


def take_fault(
    faults: list[TwilioFault], rng: random.Random, operation: str, to: str | None = None
) -> TwilioFault | None:
    """The first fault that applies to this request and whose draw hits, counted as used once."""
    for fault in faults:
        if fault.operation != operation or fault.to not in (None, to):
            continue
        if fault.probability >= 1 or rng.random() < fault.probability:
            fault.times -= 1
            if fault.times == 0:
                faults.remove(fault)
            return fault
    return None


@dataclass(slots=True)
class TypingIndicatorRecord:
    """One typing indicator request, answered 200 or refused with a code."""

    channel: str | None
    message_id: str | None
    received_at: datetime
    status_code: int
    error_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the inspection API shows it."""
        return {
            "channel": self.channel,
            "message_id": self.message_id,
            "received_at": self.received_at.isoformat(),
            "status_code": self.status_code,
            "error_code": self.error_code,
        }


@dataclass(slots=True)
class StatusCallbackRecord:
    """One status callback the fake posted, with the answer it got (or why it got none)."""

    message_sid: str
    status: str
    url: str
    params: dict[str, str]
    signature: str
    sent_at: datetime
    response_status: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the inspection API shows it."""
        return {
            "message_sid": self.message_sid,
            "status": self.status,
            "url": self.url,
            "params": dict(self.params),
            "signature": self.signature,
            "sent_at": self.sent_at.isoformat(),
            "response_status": self.response_status,
            "error": self.error,
        }


@dataclass(slots=True)
class StoredMedia:
    """An inbound attachment the fake serves, as Twilio keeps the media of a received message.

    ``token`` names its CDN copy (the unauthenticated URL Twilio's media URL redirects to);
    ``cdn_base`` is the origin of that redirect (None: the origin the download came to).
    """

    sid: str
    message_sid: str
    account_sid: str
    content_type: str
    data: bytes
    token: str
    uploaded_at: datetime
    cdn_base: str | None = None

    @property
    def path(self) -> str:
        """The media URL's path, as in Twilio's ``MediaUrl<N>`` webhook fields."""
        account, message = self.account_sid, self.message_sid
        return f"/2010-04-01/Accounts/{account}/Messages/{message}/Media/{self.sid}"

    def to_json(self) -> dict[str, Any]:
        """The media as the inspection API shows it (its size, never its bytes)."""
        return {
            "sid": self.sid,
            "message_sid": self.message_sid,
            "account_sid": self.account_sid,
            "content_type": self.content_type,
            "size": len(self.data),
            "path": self.path,
            "uploaded_at": self.uploaded_at.isoformat(),
        }


@dataclass(slots=True)
class MediaFetchRecord:
    """One download request of inbound media: the authenticated API URL or its CDN copy.

    ``stage`` is ``api`` (the Twilio media URL, Basic auth required, answered with a redirect)
    or ``cdn`` (the redirect's target, no auth needed); ``authorized`` says whether the request
    carried an Authorization header at all, so tests can see credentials never reach the CDN.
    """

    stage: Literal["api", "cdn"]
    media_sid: str | None
    received_at: datetime
    status_code: int
    authorized: bool
    error_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the inspection API shows it."""
        return {
            "stage": self.stage,
            "media_sid": self.media_sid,
            "received_at": self.received_at.isoformat(),
            "status_code": self.status_code,
            "authorized": self.authorized,
            "error_code": self.error_code,
        }
