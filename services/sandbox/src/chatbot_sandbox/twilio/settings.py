"""Settings of the fake Twilio (and the credentials whoever plays Twilio signs with)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "ORDER_READY_TEMPLATE_SID",
    "REENGAGE_TEMPLATE_SID",
    "TEMPLATES",
    "TwilioCredentials",
    "TwilioSettings",
]

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
"""A well-formed (AC + 32 hex digits) account SID that no real Twilio account has."""
DEFAULT_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - a fixed, public, sandbox-only value
REENGAGE_TEMPLATE_SID = "HX" + "0" * 31 + "1"
"""A default template without variables: asks a user whose 24-hour window closed to reply."""
ORDER_READY_TEMPLATE_SID = "HX" + "0" * 31 + "2"
"""A default template with one variable, ``{{1}}``: the user's name (default ``there``)."""

TEMPLATES: dict[str, tuple[str, dict[str, str]]] = {
    REENGAGE_TEMPLATE_SID: (
        "We have an answer for you. Reply to this message to continue our conversation.",
        {},
    ),
    ORDER_READY_TEMPLATE_SID: ("Hello {{1}}, your order is ready.", {"1": "there"}),
}
"""The text templates the fake's Content API knows: each one's body, with ``{{1}}``-style
placeholders, and its variables' default values."""


class TwilioCredentials(BaseSettings):
    """The account the fake accepts; the same names the services read, so both agree."""

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


class TwilioSettings(TwilioCredentials):
    """How the fake Twilio answers."""

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
            "Post signed status callbacks to each accepted message's StatusCallback URL, as "
            "Twilio does: sent and delivered (or failed), then read once a chat client shows "
            "the message; none for the initial status."
        ),
    )
