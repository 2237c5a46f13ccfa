"""Settings of the console (environment only)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from chatbot_common.config import ServiceSettings

__all__ = ["ConsoleSettings"]


class ConsoleSettings(ServiceSettings):
    """Who may use the console, and what it needs to find a user and read their chat."""

    port: int = Field(8083, ge=0, le=65535, description="Port of the console (page and API).")
    console_token: SecretStr = Field(
        description=(
            "The operators' secret: the API's bearer token, and the page's password. At least "
            "32 characters; a secret."
        ),
    )
    console_business_numbers: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description=(
            "The business's WhatsApp numbers (comma-separated, e.g. whatsapp:+14155238886): a "
            "user looked up by phone is looked for in each one's conversations. Defaults to "
            "TWILIO_WHATSAPP_FROM."
        ),
    )
    twilio_whatsapp_from: str | None = Field(
        None,
        description=(
            "The default business number (as the sender has it): the sender of POST "
            "/api/messages without a from."
        ),
    )
    openai_api_key: SecretStr | None = Field(
        None, description="To read a user's transcript from their OpenAI Conversation."
    )
    openai_base_url: str | None = Field(None, description="OpenAI's API, or a compatible one.")
    twilio_account_sid: str | None = Field(
        None,
        description=(
            "Twilio account SID (AC...): with TWILIO_AUTH_TOKEN, POST /api/messages reads a "
            "template's text from the Content API, to check it and record what the user reads."
        ),
    )
    twilio_auth_token: SecretStr | None = Field(None, description="Twilio auth token.")
    twilio_api_base_url: str | None = Field(
        None, description="Base URL that replaces Twilio's Content API host (the sandbox)."
    )
    console_secure_cookies: bool = Field(
        True,
        description=(
            "Send the session cookie only over HTTPS; off only for a console on plain HTTP on "
            "this machine (make run)."
        ),
    )
    console_login_attempts: int = Field(
        5, ge=1, description="Failed logins one client may make a minute before it must wait."
    )
    openai_model: str | None = Field(
        None, description="The conversation service's model: the overview shows its shutdown date."
    )
    openai_transcription_model: str | None = Field(
        None, description="The transcription model: the overview shows its shutdown date too."
    )
    console_erase_wait: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds an erase waits for the conversation service's report before it answers "
            "202 (it goes on; ask again for the report)."
        ),
    )
    outreach_rate_per_second: float = Field(
        1.0,
        gt=0,
        description=(
            "Messages the business starts (POST /api/messages) a second, per console replica: "
            "apart from replies, so a campaign never starves conversations. Over it: 429."
        ),
    )
    outreach_rate_burst: int = Field(
        10,
        ge=1,
        description=(
            "Messages the business starts that one console replica queues at once, before "
            "OUTREACH_RATE_PER_SECOND applies."
        ),
    )
    console_trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description=(
            "Addresses or networks (CIDR) of the proxies in front of the console, e.g. the "
            "Ingress controller's pods: the client their X-Forwarded-For names is the one whose "
            "failed logins are counted. Empty: the connection's own address."
        ),
    )

    @field_validator("console_token")
    @classmethod
    def _long_enough(cls, token: SecretStr) -> SecretStr:
        if len(token.get_secret_value()) < 32:
            raise ValueError("CONSOLE_TOKEN must be at least 32 characters")
        return token

    @field_validator("console_business_numbers", "console_trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @property
    def models(self) -> tuple[str, ...]:
        """The models whose shutdown dates the overview shows."""
        return tuple(m for m in (self.openai_model, self.openai_transcription_model) if m)

    @property
    def business_numbers(self) -> tuple[str, ...]:
        """Where a user looked up by phone may have written to."""
        if self.console_business_numbers:
            return self.console_business_numbers
        return (self.twilio_whatsapp_from,) if self.twilio_whatsapp_from else ()
