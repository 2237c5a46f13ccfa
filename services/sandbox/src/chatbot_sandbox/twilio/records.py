"""What the fake Twilio keeps: requests, callbacks, media, and the faults tests queue."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from chatbot_sandbox.records import RecordLog

__all__ = [
    "MediaFetchRecord",
    "StatusCallbackRecord",
    "StoredMedia",
    "TwilioFault",
    "TwilioMessageRecord",
    "TwilioStore",
    "TypingIndicatorRecord",
]


@dataclass(slots=True)
class TwilioMessageRecord:
    """One ``Messages.json`` create, accepted (with its SID) or refused (with a code)."""

    account_sid: str
    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: list[str]
    status_callback: str | None
    params: dict[str, list[str]]
    received_at: datetime
    accepted: bool = False
    status_code: int = 0
    sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None


@dataclass(slots=True)
class TypingIndicatorRecord:
    """One typing indicator request, answered 200 or refused with a code."""

    channel: str | None
    message_id: str | None
    received_at: datetime
    status_code: int = 200
    error_code: int | None = None


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


@dataclass(slots=True)
class StoredMedia:
    """A user's attachment, kept as Twilio keeps a received message's media.

    ``token`` names its CDN copy; ``cdn_base`` is the origin the media URL redirects to (None:
    the origin the download came to).
    """

    sid: str
    message_sid: str
    account_sid: str
    content_type: str
    data: bytes
    token: str
    cdn_base: str | None = None

    @property
    def path(self) -> str:
        """The media URL's path, as in the webhook's ``MediaUrl<N>``."""
        return (
            f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.message_sid}/Media/{self.sid}"
        )


@dataclass(slots=True)
class MediaFetchRecord:
    """One download of media: ``api`` (Basic auth, answered with a redirect) or ``cdn``.

    ``authorized`` says whether it carried an Authorization header at all.
    """

    stage: Literal["api", "cdn"]
    media_sid: str | None
    received_at: datetime
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
    message: str = Field("Injected by the sandbox", description="Message of the error answer.")
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


class TwilioStore:
    """Everything the fake Twilio remembers, until cleared."""

    def __init__(self, fault_rng: random.Random) -> None:
        self.fault_rng = fault_rng
        self.twilio_messages: RecordLog[TwilioMessageRecord] = RecordLog()
        self.twilio_rejected: RecordLog[TwilioMessageRecord] = RecordLog()
        self.twilio_typing: RecordLog[TypingIndicatorRecord] = RecordLog()
        self.twilio_status_callbacks: RecordLog[StatusCallbackRecord] = RecordLog()
        self.twilio_media_fetches: RecordLog[MediaFetchRecord] = RecordLog()
        self.twilio_media: dict[str, StoredMedia] = {}
        self.twilio_faults: list[TwilioFault] = []

    def clear(self) -> None:
        """Forget every record, file and fault."""
        for log in (
            self.twilio_messages,
            self.twilio_rejected,
            self.twilio_typing,
            self.twilio_status_callbacks,
            self.twilio_media_fetches,
        ):
            log.clear()
        self.twilio_media.clear()
        self.twilio_faults.clear()

    def take_twilio_fault(self, operation: str, to: str | None = None) -> TwilioFault | None:
        """The first queued fault that applies and whose draw hits, counted as used once."""
        for fault in self.twilio_faults:
            if fault.operation != operation or fault.to not in (None, to):
                continue
            if fault.probability >= 1 or self.fault_rng.random() < fault.probability:
                fault.times -= 1
                if fault.times == 0:
                    self.twilio_faults.remove(fault)
                return fault
        return None
