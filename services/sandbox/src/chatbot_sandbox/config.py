"""Settings of the sandbox process.

The sandbox stands in for Twilio and OpenAI during development and tests, so it reads the same
Twilio credential names the services use (`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`): a service
and the sandbox started from one environment agree on credentials with no extra step. Its own
knobs carry a `SANDBOX_` prefix, so they can never be mistaken for a real service's settings.
The responder deliberately does not read `OPENAI_API_KEY`: that name holds a real key when one
is configured, and the sandbox has no business with it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_BUSINESS_NUMBER",
    "LogLevel",
    "ModelProvider",
    "SandboxSettings",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

ModelProvider = Literal["sandbox", "openai", "compatible"]
"""Who answers the chat: the sandbox's echo responder, OpenAI, or another compatible server."""

DEFAULT_BUSINESS_NUMBER = "whatsapp:+14155238886"
"""Twilio's WhatsApp Sandbox number: the business number local chats write to."""

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
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1", "localhost", "[::1]"),
        validation_alias="SANDBOX_ALLOWED_HOSTS",
        description=(
            "Host names the sandbox answers (comma-separated; any port). Loopback only, so a "
            "page on another site cannot reach it through DNS rebinding."
        ),
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
    twilio_latency: float = Field(
        0.0,
        ge=0,
        validation_alias="SANDBOX_TWILIO_LATENCY",
        description="Seconds the fake Twilio API takes to accept each message.",
    )
    fault_seed: int | None = Field(
        None,
        validation_alias="SANDBOX_FAULT_SEED",
        description=(
            "Seed of the draws that decide which requests a probabilistic fault hits, so a "
            "storm can be replayed; unset draws differently each run."
        ),
    )
    status_callbacks: bool = Field(
        True,
        validation_alias="SANDBOX_STATUS_CALLBACKS",
        description=(
            "Post signed status callbacks (sent, delivered, read; or failed) to each accepted "
            "message's StatusCallback URL, as Twilio does (none for the initial status)."
        ),
    )
    model_label: str = Field(
        "sandbox-echo",
        min_length=1,
        validation_alias="SANDBOX_MODEL_LABEL",
        description=(
            "Name of the model that answers, shown on the chat page and at /_sandbox/info: "
            "the responder's name, or the real model's under `make run` with an OpenAI key."
        ),
    )
    model_provider: ModelProvider = Field(
        "sandbox",
        validation_alias="SANDBOX_MODEL_PROVIDER",
        description=(
            "Who answers under `make run`: the sandbox's responder, OpenAI, or another "
            "OpenAI-compatible server (set by `make run`, shown on the chat page)."
        ),
    )
    twilio_real: bool = Field(
        False,
        validation_alias="SANDBOX_TWILIO_REAL",
        description=(
            "The sender talks to the real Twilio (set by `make run`): replies go to real "
            "WhatsApp and never reach this sandbox, and the chat page says so."
        ),
    )
    ingress_url: str = Field(
        "http://127.0.0.1:8080",
        validation_alias="SANDBOX_INGRESS_URL",
        description="Where the chat page's webhooks are posted: ingress's origin, no path.",
    )
    public_base_url: str | None = Field(
        None,
        validation_alias="PUBLIC_BASE_URL",
        description=(
            "The origin ingress checks signatures against (the services' own setting); the "
            "chat page signs its webhooks for it. Unset means SANDBOX_INGRESS_URL."
        ),
    )
    business_number: str = Field(
        DEFAULT_BUSINESS_NUMBER,
        pattern=r"^(whatsapp:)?\+[1-9][0-9]{6,14}$",
        validation_alias="TWILIO_WHATSAPP_FROM",
        description="The business number the chat page's users write to (the `To` field).",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip() for host in value.split(",") if host.strip())
        return value

    @property
    def business_address(self) -> str:
        """The business number as a WhatsApp address (`whatsapp:+...`), as Twilio sends `To`."""
        return "whatsapp:" + self.business_number.removeprefix("whatsapp:")

    @property
    def webhook_url(self) -> str:
        """The URL the chat page's webhooks are signed for, as Twilio signs the URL it calls."""
        return (self.public_base_url or self.ingress_url).rstrip("/") + "/twilio/messages"
