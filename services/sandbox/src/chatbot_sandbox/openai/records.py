"""What the fake OpenAI keeps: requests, conversations, models and queued faults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_MODELS",
    "ConversationState",
    "Family",
    "FaultSpec",
    "ModelEntry",
    "OpenAIRequestRecord",
    "open_calls",
]

Family = Literal["responses", "chat", "conversations", "transcriptions", "models"]


@dataclass(slots=True)
class OpenAIRequestRecord:
    """One request (``status_code`` None while in flight): ``input_text`` is the user text
    answered, ``file`` a transcription's name, type and size; the rest as sent."""

    endpoint: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    model: str | None = None
    instructions: Any = None
    safety_identifier: str | None = None
    conversation: str | None = None
    input: Any = None
    input_text: str | None = None
    status_code: int | None = None
    error_code: str | None = None
    images: list[str] = field(default_factory=list)
    file: dict[str, Any] | None = None
    tools: Any = None
    tool_choice: Any = None


@dataclass(slots=True)
class ConversationState:
    """A conversation: its items, whether a request on it is in flight (``busy``), and the user
    text its last fresh ask was about (``asked``), which function outputs still answer."""

    items: list[dict[str, Any]] = field(default_factory=list)
    busy: bool = False
    asked: str = ""

    @property
    def open_calls(self) -> list[str]:
        """The function calls that have no output yet."""
        return open_calls(self.items)


def open_calls(items: list[dict[str, Any]]) -> list[str]:
    """The function calls among ``items`` that have no output among them."""
    answered = {one["call_id"] for one in items if one["type"] == "function_call_output"}
    calls = (one["call_id"] for one in items if one["type"] == "function_call")
    return [call for call in calls if call not in answered]


@dataclass(slots=True)
class ModelEntry:
    """A model the models API knows, with its shutdown date (``YYYY-MM-DD``) if it has one."""

    id: str
    shutdown_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        """OpenAI's Model object."""
        return asdict(self) | {"object": "model", "created": 1_761_436_800, "owned_by": "openai"}


DEFAULT_MODELS = (
    ModelEntry("gpt-6.1-terra"),
    ModelEntry("gpt-transcribe"),
    ModelEntry("gpt-5-mini", shutdown_date="2026-12-11"),
    ModelEntry("gpt-4o-mini-transcribe", shutdown_date="2027-02-26"),
)
"""Today's defaults, and the two they replaced with their shutdown dates."""


class FaultSpec(BaseModel):
    """A failure for the next ``count`` matching requests (``POST /_sandbox/openai/faults``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "rate_limit", "insufficient_quota", "server_error", "conversation_locked", "stall"
    ]
    endpoint: Literal["model", Family] = Field(
        "model", description="Which requests: `model` is responses and chat completions."
    )
    count: int = Field(1, ge=1, le=100_000, description="How many requests it hits.")
    retry_after: float | None = Field(None, ge=0, le=600, description="rate_limit: Retry-After.")
    seconds: float = Field(0.0, ge=0, le=600, description="stall: seconds added to the answer.")
    probability: float = Field(
        1.0, gt=0, le=1, description="Chance a matching request is hit (SANDBOX_FAULT_SEED)."
    )
    match: str | None = Field(None, min_length=1, description="Only user input with this text.")

    def queued(self) -> FaultSpec:
        """A copy to queue (its ``count`` goes down as it hits)."""
        return self.model_copy()
