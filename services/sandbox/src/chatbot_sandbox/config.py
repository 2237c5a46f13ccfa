"""Settings of the sandbox process.

The sandbox stands in for Twilio and OpenAI during development and tests, so it reads the same
Twilio credential names the services use (`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`): a service
and the sandbox started from one environment agree on credentials with no extra step. Its own
knobs carry a `SANDBOX_` prefix, so they can never be mistaken for a real service's settings.
The responder deliberately does not read `OPENAI_API_KEY`: that name holds a real key when one
is configured, and the sandbox has no business with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "LogLevel", "SandboxSettings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
"""A well-formed (AC + 32 hex digits) account SID that no real Twilio account has."""

DEFAULT_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - a fixed, public, sandbox-only value


class SandboxSettings(BaseSettings):
    """Where the sandbox listens, the credentials it accepts and how slow it pretends to be."""

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
    log_level: LogLevel = Field(
        "INFO", validation_alias="LOG_LEVEL", description="Minimum level of the JSON log lines."
    )
    twilio_account_sid: str = Field(
        DEFAULT_ACCOUNT_SID,
        pattern=r"^AC[0-9a-fA-F]{32}$",
        validation_alias="TWILIO_ACCOUNT_SID",
        description="Account SID the fake Twilio API accepts (Basic auth user and path).",
    )
    twilio_auth_token: SecretStr = Field(
        SecretStr(DEFAULT_AUTH_TOKEN),
        min_length=1,
        validation_alias="TWILIO_AUTH_TOKEN",
        description="Auth token the fake Twilio API accepts (Basic auth password).",
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""),
        validation_alias="SANDBOX_OPENAI_API_KEY",
        description=(
            "Bearer token the responder requires; empty means any non-empty token is accepted."
        ),
    )
    openai_latency: float = Field(
        0.0,
        ge=0,
        validation_alias="SANDBOX_OPENAI_LATENCY",
        description="Seconds the responder takes to produce each response.",
    )
    twilio_latency: float = Field(
        0.0,
        ge=0,
        validation_alias="SANDBOX_TWILIO_LATENCY",
        description="Seconds the fake Twilio API takes to accept each message.",
    )
    status_callbacks: bool = Field(
        True,
        validation_alias="SANDBOX_STATUS_CALLBACKS",
        description=(
            "Post signed status callbacks (queued, sent, delivered, read) to each accepted "
            "message's StatusCallback URL, as Twilio does."
        ),
    )
    model_label: str = Field(
        "sandbox-echo",
        min_length=1,
        validation_alias="SANDBOX_MODEL_LABEL",
        description="Name the sandbox shows for its responder (info endpoint, chat page).",
    )
