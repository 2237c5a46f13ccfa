"""What the fake Twilio API keeps besides Messages creates: faults, typing, status callbacks.

Tests make the fake fail the way Twilio does (an error code, a Retry-After, a slow answer, a
delivery that fails later) by adding a :class:`TwilioFault`, in-process or through
``POST /_sandbox/twilio/faults``; typing indicators and the status callbacks the fake posted
are recorded for them to inspect. The store holds these next to its other records; they live
in this module, which imports nothing of the sandbox, so the store can import them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

__all__ = ["StatusCallbackRecord", "TwilioFault", "TypingIndicatorRecord", "take_fault"]


class TwilioFault(BaseModel):
    """How the fake misbehaves for the next ``times`` matching requests."""

    operation: Literal["messages", "typing"] = Field(
        "messages", description="Which endpoint: Messages create or the typing indicator."
    )
    to: str | None = Field(None, description="Only Messages creates to this address.")
    times: int = Field(1, ge=1, description="How many matching requests it applies to.")
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
    faults: list[TwilioFault], operation: str, to: str | None = None
) -> TwilioFault | None:
    """The first fault that applies to this request, counted as used once."""
    for fault in faults:
        if fault.operation == operation and fault.to in (None, to):
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
