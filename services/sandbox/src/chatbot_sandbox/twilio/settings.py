"""Settings of the fake Twilio (and the credentials whoever plays Twilio signs with)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, StringConstraints
from pydantic_settings import BaseSettings

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_TEMPLATES",
    "ORDER_READY_TEMPLATE_SID",
    "REENGAGE_TEMPLATE_SID",
    "ContentTemplate",
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

ContentSid = Annotated[str, StringConstraints(pattern=r"^HX[0-9a-fA-F]{32}$")]


class ContentTemplate(BaseModel):
    """A text template, as the Content API keeps one: its body (the ``twilio/text`` type's), with
    ``{{1}}``-style placeholders, and each variable's default value."""

    body: str = Field(min_length=1, max_length=1600)
    variables: dict[str, str] = Field(default_factory=dict)


DEFAULT_TEMPLATES = {
    REENGAGE_TEMPLATE_SID: ContentTemplate(
        body="We have an answer for you. Reply to this message to continue our conversation."
    ),
    ORDER_READY_TEMPLATE_SID: ContentTemplate(
        body="Hello {{1}}, your order is ready.", variables={"1": "there"}
    ),
}


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
    twilio_templates: dict[ContentSid, ContentTemplate] = Field(
        {},
        validation_alias="SANDBOX_TWILIO_TEMPLATES",
        description=(
            "Content templates Messages create knows besides its two defaults, as JSON: "
            '{"HX...": {"body": "Hi {{1}}", "variables": {"1": "there"}}} (a variable\'s '
            "default fills a placeholder the send leaves out); a default named here is replaced."
        ),
    )

    def template(self, content_sid: str) -> ContentTemplate | None:
        """The template with this SID: one of ``twilio_templates``, else a default."""
        return self.twilio_templates.get(content_sid) or DEFAULT_TEMPLATES.get(content_sid)
