"""What the fake OpenAI keeps: requests, conversations, models and queued faults."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot_sandbox.records import RecordLog

__all__ = [
    "DEFAULT_MODELS",
    "ConversationState",
    "FaultSpec",
    "ModelEntry",
    "OpenAIRequestRecord",
    "OpenAIStore",
]

Family = Literal["responses", "chat", "conversations", "transcriptions", "models"]


@dataclass(slots=True)
class OpenAIRequestRecord:
    """One request; the outcome (``status_code`` None while in flight) is filled in later.

    ``images`` are the input's image URLs; ``file`` a transcription's name, type and size.
    """

    endpoint: str
    received_at: datetime
    body: Any = None
    model: str | None = None
    instructions: Any = None
    safety_identifier: str | None = None
    conversation: str | None = None
    input: Any = None
    input_text: str | None = None
    metadata: Any = None
    status_code: int | None = None
    error_code: str | None = None
    response_id: str | None = None
    output_text: str | None = None
    images: list[str] = field(default_factory=list)
    file: dict[str, Any] | None = None


@dataclass(slots=True)
class ConversationState:
    """A conversation: how many responses it completed, and the one in progress (its lock)."""

    id: str
    created_at: int
    metadata: dict[str, str]
    completed_responses: int = 0
    active_response_id: str | None = None


@dataclass(slots=True)
class ModelEntry:
    """A model the models API knows, with its shutdown date (``YYYY-MM-DD``) if it has one."""

    id: str
    shutdown_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        """OpenAI's Model object."""
        return {
            "id": self.id,
            "object": "model",
            "created": 1_761_436_800,
            "owned_by": "openai",
            "shutdown_date": self.shutdown_date,
        }


DEFAULT_MODELS = (
    ModelEntry("gpt-6.1-terra"),
    ModelEntry("gpt-transcribe"),
    ModelEntry("gpt-5-mini", shutdown_date="2026-12-11"),
    ModelEntry("gpt-4o-mini-transcribe", shutdown_date="2027-02-26"),
)
"""Today's defaults, and the two they replaced with their shutdown dates."""


class FaultSpec(BaseModel):
    """A failure for the next ``count`` matching requests, as ``POST /_sandbox/openai/faults``
    takes it. ``match`` limits it to user input containing that text; ``probability`` hits
    each matching request with that chance (seeded by SANDBOX_FAULT_SEED)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "rate_limit", "insufficient_quota", "server_error", "conversation_locked", "stall"
    ]
    endpoint: Literal["model", "any", Family] = Field(
        "model", description="Which requests: `model` is responses and chat completions."
    )
    count: int = Field(1, ge=1, le=100_000, description="How many requests it hits.")
    retry_after: float | None = Field(None, ge=0, le=600, description="rate_limit: Retry-After.")
    seconds: float = Field(0.0, ge=0, le=600, description="stall: seconds added to the answer.")
    probability: float = Field(1.0, gt=0, le=1, description="Chance a matching request is hit.")
    match: str | None = Field(None, min_length=1, description="Only inputs with this text.")

    def queued(self) -> FaultSpec:
        """A copy to queue (its ``count`` goes down as it hits)."""
        return self.model_copy()

    def applies(self, family: Family) -> bool:
        """Whether the fault is meant for requests of ``family``."""
        if self.endpoint == "model":
            return family in ("responses", "chat")
        return self.endpoint in ("any", family)


class OpenAIStore:
    """Everything the fake OpenAI remembers, until cleared."""

    def __init__(self, fault_rng: random.Random, models: Mapping[str, date | None]) -> None:
        self.fault_rng = fault_rng
        self._configured = [
            ModelEntry(model, shutdown.isoformat() if shutdown else None)
            for model, shutdown in models.items()
        ]
        self.openai_requests: RecordLog[OpenAIRequestRecord] = RecordLog()
        self.conversations: dict[str, ConversationState] = {}
        self.openai_faults: list[FaultSpec] = []
        self.models = self._known_models()

    def _known_models(self) -> dict[str, ModelEntry]:
        return {
            entry.id: ModelEntry(entry.id, entry.shutdown_date)
            for entry in (*DEFAULT_MODELS, *self._configured)
        }

    def clear(self) -> None:
        """Forget every request, conversation and fault; know the starting models again."""
        self.openai_requests.clear()
        self.conversations.clear()
        self.openai_faults.clear()
        self.models = self._known_models()

    def take_openai_fault(self, family: Family, text: str = "") -> FaultSpec | None:
        """The oldest queued fault that hits this request (``text``: its user input), used once."""
        for fault in self.openai_faults:
            if not fault.applies(family) or (fault.match is not None and fault.match not in text):
                continue
            if fault.probability >= 1 or self.fault_rng.random() < fault.probability:
                fault.count -= 1
                if fault.count == 0:
                    self.openai_faults.remove(fault)
                return fault
        return None
