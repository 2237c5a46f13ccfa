"""One sandbox process: every fake's settings and records, and where it listens."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chatbot_sandbox.chat.settings import ChatSettings
from chatbot_sandbox.chatwoot import records as chatwoot_records
from chatbot_sandbox.chatwoot.settings import ChatwootSettings
from chatbot_sandbox.openai import records as openai_records
from chatbot_sandbox.openai.records import DEFAULT_MODELS, FaultSpec, ModelEntry
from chatbot_sandbox.openai.settings import OpenAISettings
from chatbot_sandbox.records import RecordLog
from chatbot_sandbox.tools.records import ToolCallRecord, ToolFault
from chatbot_sandbox.twilio import records as twilio_records
from chatbot_sandbox.twilio.records import TwilioFault
from chatbot_sandbox.twilio.settings import TwilioSettings

__all__ = ["SandboxSettings", "SandboxStore"]


class SandboxSettings(ChatwootSettings, OpenAISettings, TwilioSettings, ChatSettings):
    """The fakes' and the chat page's settings, and the server's own (other variables ignored)."""

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    host: str = Field(
        "127.0.0.1",
        validation_alias="SANDBOX_HOST",
        description="Interface the sandbox HTTP server binds to.",
    )
    port: int = Field(
        8090,
        ge=0,
        le=65535,
        validation_alias="SANDBOX_PORT",
        description="Port the sandbox HTTP server listens on (0 picks a free one).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="LOG_LEVEL", description="Minimum level of the JSON log lines."
    )
    fault_seed: int | None = Field(
        None,
        validation_alias="SANDBOX_FAULT_SEED",
        description=(
            "Seed of the draws that decide which requests a probabilistic fault hits, so a "
            "storm can be replayed; unset draws differently each run."
        ),
    )


class SandboxStore:
    """Everything the fakes remember, faults drawn from one seeded source."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._rng = random.Random(settings.fault_seed)  # noqa: S311 - fault draws, not secrets
        configured = [
            ModelEntry(model, shutdown.isoformat() if shutdown else None)
            for model, shutdown in settings.openai_models.items()
        ]
        self.models = {e.id: dataclasses.replace(e) for e in [*DEFAULT_MODELS, *configured]}
        self.openai_requests: RecordLog[openai_records.OpenAIRequestRecord] = RecordLog()
        self.twilio_messages: RecordLog[twilio_records.TwilioMessageRecord] = RecordLog()
        self.twilio_rejected: RecordLog[twilio_records.TwilioMessageRecord] = RecordLog()
        self.twilio_typing: RecordLog[twilio_records.TypingIndicatorRecord] = RecordLog()
        self.twilio_status_callbacks: RecordLog[twilio_records.StatusCallbackRecord] = RecordLog()
        self.twilio_media_fetches: RecordLog[twilio_records.MediaFetchRecord] = RecordLog()
        self.tool_calls: RecordLog[ToolCallRecord] = RecordLog()
        self.chatwoot_requests: RecordLog[chatwoot_records.ChatwootRequestRecord] = RecordLog()
        self.chatwoot_webhooks: RecordLog[chatwoot_records.WebhookDeliveryRecord] = RecordLog()
        # The display ids of Chatwoot conversations as they change (made, a message, a status).
        self.chatwoot_changes: RecordLog[int] = RecordLog()
        self.conversations: dict[str, openai_records.ConversationState] = {}
        self.twilio_media: dict[str, twilio_records.StoredMedia] = {}
        self.openai_faults: list[FaultSpec] = []
        self.twilio_faults: list[TwilioFault] = []
        # The users whose 24-hour window is closed: in memory only.
        self.twilio_windows: set[str] = set()
        self.tool_faults: list[ToolFault] = []
        self.chatwoot = chatwoot_records.ChatwootAccount(
            settings.chatwoot_account_id, settings.chatwoot_inbox_id
        )
        self.chatwoot_faults: list[chatwoot_records.ChatwootFault] = []

    def take_openai_fault(self, family: openai_records.Family, text: str = "") -> FaultSpec | None:
        """The oldest queued fault that hits this request (``text``: its user input)."""
        asks_model = family in ("responses", "chat")

        def hits(fault: FaultSpec) -> bool:
            aimed = fault.endpoint == family or (fault.endpoint == "model" and asks_model)
            wanted = fault.match is None or fault.match in text
            return aimed and wanted and self._draw(fault.probability)

        return _take(self.openai_faults, hits, "count")

    def take_twilio_fault(self, operation: str, to: str | None = None) -> TwilioFault | None:
        """The oldest queued fault that hits this request (``to``: a message's address)."""
        return _take(
            self.twilio_faults,
            lambda f: f.operation == operation and f.to in (None, to) and self._draw(f.probability),
        )

    def take_tool_fault(self, tool: str) -> ToolFault | None:
        """The oldest queued fault of the example tool endpoints that hits a call of ``tool``."""
        return _take(self.tool_faults, lambda f: f.tool in (None, tool))

    def take_chatwoot_fault(self, path: str) -> chatwoot_records.ChatwootFault | None:
        """The oldest queued fault of the fake Chatwoot API that hits a request to ``path``."""
        return _take(self.chatwoot_faults, lambda f: f.path is None or f.path in path)

    def _draw(self, probability: float) -> bool:
        return probability >= 1 or self._rng.random() < probability


def _take[F](faults: list[F], hits: Callable[[F], bool], counter: str = "times") -> F | None:
    """The oldest of ``faults`` that ``hits``, its ``counter`` down by one (gone at zero)."""
    for fault in faults:
        if hits(fault):
            setattr(fault, counter, getattr(fault, counter) - 1)
            if getattr(fault, counter) == 0:
                faults.remove(fault)
            return fault
    return None
