"""Settings of the fake OpenAI (it takes any bearer token, and never reads OPENAI_API_KEY)."""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["OpenAISettings"]


class OpenAISettings(BaseSettings):
    """How slow the fake is, and what its models API knows."""

    openai_latency: float = Field(
        0.0,
        ge=0,
        validation_alias="SANDBOX_OPENAI_LATENCY",
        description="Seconds the responder takes to produce each response.",
    )
    openai_models_endpoint: bool = Field(
        True,
        validation_alias="SANDBOX_OPENAI_MODELS_ENDPOINT",
        description=(
            "Answer the models API (GET /v1/models, /v1/models/{id}); off plays an "
            "OpenAI-compatible server that has none (404)."
        ),
    )
    openai_models: dict[str, date | None] = Field(
        {},
        validation_alias="SANDBOX_OPENAI_MODELS",
        description=(
            'Models the models API knows besides its defaults, as JSON: {"model": '
            '"YYYY-MM-DD" (its shutdown date) or null}; a default named here is replaced.'
        ),
    )
