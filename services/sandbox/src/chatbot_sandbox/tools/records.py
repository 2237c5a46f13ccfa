"""What the example tool endpoints keep: each call as it arrived, and queued faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ToolCallRecord", "ToolFault"]


@dataclass(slots=True)
class ToolCallRecord:
    """One call: the tool, its ``Idempotency-Key``, the JSON body, and the status answered."""

    tool: str
    idempotency_key: str | None
    body: Any
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_code: int | None = None


class ToolFault(BaseModel):
    """A failure for the next ``times`` calls of a tool (``POST /_sandbox/tools/faults``)."""

    model_config = ConfigDict(extra="forbid")

    tool: str | None = Field(None, description="Which tool; unset: any.")
    status: int | None = Field(None, ge=400, le=599, description="Answer this status.")
    delay: float = Field(0.0, ge=0, le=600, description="Seconds to wait before answering.")
    times: int = Field(1, ge=1, le=100_000, description="How many calls it hits.")
