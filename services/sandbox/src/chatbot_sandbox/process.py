"""One sandbox process: every fake's settings and records, and where it listens."""

from __future__ import annotations

import random
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from chatbot_sandbox.chat.settings import ChatSettings
from chatbot_sandbox.openai.records import OpenAIStore
from chatbot_sandbox.openai.settings import OpenAISettings
from chatbot_sandbox.twilio.records import TwilioStore
from chatbot_sandbox.twilio.settings import TwilioSettings

__all__ = ["SandboxSettings", "SandboxStore"]


class SandboxSettings(OpenAISettings, TwilioSettings, ChatSettings):
    """The fakes' and the chat page's settings, and the server's own."""

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
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1", "localhost", "[::1]"),
        validation_alias="SANDBOX_ALLOWED_HOSTS",
        description=(
            "Host names the sandbox answers (comma-separated; any port). Loopback only, so a "
            "page on another site cannot reach it through DNS rebinding."
        ),
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

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip() for host in value.split(",") if host.strip())
        return value


class SandboxStore(OpenAIStore, TwilioStore):
    """What both fakes remember, drawing their probabilistic faults from one seeded source."""

    def __init__(self, settings: SandboxSettings) -> None:
        rng = random.Random(settings.fault_seed)  # noqa: S311 - fault draws, not secrets
        OpenAIStore.__init__(self, rng, settings.openai_models)
        TwilioStore.__init__(self, rng)

    def clear(self) -> None:
        """Forget everything both fakes keep."""
        OpenAIStore.clear(self)
        TwilioStore.clear(self)
