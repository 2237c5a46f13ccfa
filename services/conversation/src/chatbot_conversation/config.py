"""Settings of the conversation service (environment only).

Everything an operator tunes is here, with the environment name it is read from: the model and
how it is called, the turn design (coalescing window, lease, ack wait, concurrency) and the
per-user limits. The instructions may come from a file (a mounted ConfigMap), read once at
start-up so a bad path fails the process before it takes any work.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from chatbot_common.config import ServiceSettings

__all__ = ["DEFAULT_INSTRUCTIONS", "Backend", "ConversationSettings"]

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant answering on WhatsApp. Keep answers short and clear, "
    "use plain text with little formatting, and answer in the user's language."
)

Backend = Literal["responses", "chat"]


class ConversationSettings(ServiceSettings):
    """How the conversation service talks to the model and how much work it takes on."""

    port: int = Field(8081, ge=0, le=65535, description="Port of the health/metrics server.")
    openai_api_key: SecretStr = Field(description="API key for OpenAI (or the compatible server).")
    openai_base_url: str | None = Field(
        None, description="Base URL of the OpenAI API; unset means OpenAI itself."
    )
    openai_backend: Backend = Field(
        "responses",
        description=(
            "responses: one OpenAI Conversation per user (Responses API). chat: Chat "
            "Completions against any OpenAI-compatible server, history kept in NATS KV."
        ),
    )
    openai_model: str = Field("gpt-5-mini", min_length=1, description="Model that answers.")
    openai_instructions: str = Field(
        DEFAULT_INSTRUCTIONS, min_length=1, description="System instructions sent every turn."
    )
    openai_instructions_file: Path | None = Field(
        None, description="Read the instructions from this file instead (UTF-8, non-empty)."
    )
    openai_temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature; unset uses the model's default."
    )
    openai_max_output_tokens: int | None = Field(
        None, ge=1, description="Cap on the tokens of one answer; unset uses the model's limit."
    )
    openai_timeout: float = Field(60.0, gt=0, description="Seconds one model request may take.")
    openai_max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts of one model request (retries of 429, 5xx, ...)."
    )
    openai_backoff_initial: float = Field(
        0.5, gt=0, description="Seconds before the first retry; doubles each time, jittered."
    )
    openai_backoff_max: float = Field(
        20.0, gt=0, description="Longest wait between two attempts (Retry-After may ask more)."
    )
    openai_retry_budget: float = Field(
        90.0, gt=0, description="Seconds one turn may spend retrying before it apologises."
    )
    chat_history_tokens: int = Field(
        8000,
        ge=100,
        description="chat backend: history kept and sent, in estimated tokens (~4 chars each).",
    )
    coalesce_window: float = Field(
        1.0,
        ge=0,
        le=30,
        description="Seconds after a user's first unanswered message to wait for more; 0 = off.",
    )
    idle_reset_after: float = Field(
        86400.0,
        ge=0,
        description="Seconds of silence after which a user starts a new conversation; 0 = never.",
    )
    lease_ttl: float = Field(
        30.0,
        ge=0.5,
        description="Seconds a user's turn lease lasts unless renewed (a crashed holder's bound).",
    )
    inbound_ack_wait: float = Field(
        120.0,
        ge=1,
        description="Ack wait of the CHAT_INBOUND consumer: redelivery after a crash.",
    )
    max_concurrent_turns: int = Field(
        1000,
        ge=1,
        description="Inbound deliveries this process works on at once (turns and their waits).",
    )
    user_rate_limit: int = Field(
        20, ge=0, description="Messages one user may send per minute; 0 = no limit."
    )
    user_daily_token_budget: int = Field(
        200_000, ge=0, description="Model tokens one user may use per UTC day; 0 = no budget."
    )

    @field_validator("openai_instructions_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            _read_instructions(path)
        return path

    @cached_property
    def instructions(self) -> str:
        """The instructions every turn sends: the file's text when a file is set."""
        if self.openai_instructions_file is None:
            return self.openai_instructions
        return _read_instructions(self.openai_instructions_file)


def _read_instructions(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the instructions file {path}: {exc}") from None
    if not text:
        raise ValueError(f"the instructions file {path} is empty")
    return text
