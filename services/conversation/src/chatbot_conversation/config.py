"""Settings of the conversation service (environment only)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from chatbot_common.config import ServiceSettings

__all__ = ["ConversationSettings"]

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant answering on WhatsApp. Keep answers short and clear, "
    "use plain text with little formatting, and answer in the user's language."
)


class ConversationSettings(ServiceSettings):
    """How the conversation service talks to OpenAI and how much work it takes on."""

    port: int = Field(8081, ge=0, le=65535, description="Port of the health/metrics server.")
    openai_api_key: SecretStr = Field(description="API key for OpenAI (or the compatible server).")
    openai_base_url: str | None = Field(
        None, description="Base URL of the OpenAI API; unset means OpenAI itself."
    )
    openai_model: str = Field("gpt-5-mini", description="Model that answers.")
    openai_instructions: str = Field(
        DEFAULT_INSTRUCTIONS, description="System instructions sent with every turn."
    )
    openai_timeout: float = Field(60.0, gt=0, description="Seconds one OpenAI request may take.")
    max_concurrent_turns: int = Field(
        200, ge=1, description="Turns this process runs at once (across all users)."
    )
