"""Settings of the ingress service (environment only)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from chatbot_common.config import ServiceSettings

__all__ = ["IngressSettings", "normalise_address"]


def normalise_address(address: str) -> str:
    """``whatsapp:+1 555 000`` and ``+1555000`` name the same sender."""
    return "".join(address.strip().removeprefix("whatsapp:").split())


class IngressSettings(ServiceSettings):
    """Where ingress listens and how it checks what Twilio and the helpdesk send."""

    port: int = Field(8080, ge=0, le=65535, description="Port of the public webhook server.")
    twilio_auth_token: SecretStr | None = Field(
        None, description="Twilio auth token: the key Twilio signs webhooks with."
    )
    public_base_url: str | None = Field(
        None,
        description=(
            "The URL Twilio calls (http(s)://host[:port]); signatures are checked on it. "
            "Required while signatures are checked, unless PUBLIC_BASE_URL_FROM_REQUEST."
        ),
    )
    public_base_url_from_request: bool = Field(
        False,
        description=(
            "Without PUBLIC_BASE_URL, check signatures on the URL the request itself names "
            "(Host, or X-Forwarded-Proto/-Host with TRUST_PROXY_HEADERS): headers the client "
            "chooses. An explicit opt-in, warned about at start-up."
        ),
    )
    twilio_validate_signature: bool = Field(
        True, description="Reject webhooks without a valid X-Twilio-Signature (keep on)."
    )
    trust_proxy_headers: bool = Field(
        False,
        description=(
            "With PUBLIC_BASE_URL_FROM_REQUEST, take the signed URL's scheme and host from "
            "X-Forwarded-Proto/-Host (only behind a proxy that overwrites them)."
        ),
    )
    max_body_bytes: int = Field(65536, gt=0, description="Largest webhook body accepted.")
    body_read_timeout: float = Field(
        10.0,
        gt=0,
        description=(
            "Seconds a webhook's whole body may take to arrive once its headers are in; a "
            "slower client is answered 408 and its connection closed."
        ),
    )
    allowed_senders: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(),
        description=(
            "Private beta: comma-separated WhatsApp numbers allowed to talk to the assistant; "
            "empty allows everyone."
        ),
    )
    not_allowed_reply: str = Field(
        "",
        description="Answer (as TwiML) to senders outside the allow-list; empty means silence.",
    )
    chatwoot_webhook_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "The Chatwoot API inbox's webhook secret (its `secret`, not its `hmac_token`): "
            "POST /desk/chatwoot takes the inbox's webhooks signed with it. Empty: no such "
            "route (404)."
        ),
    )
    handoff_webhook_secret: SecretStr = Field(
        SecretStr(""),
        description=(
            "The generic webhook desk's secret (HANDOFF_DESK=webhook): POST /desk/webhook "
            "takes the desk's events signed with it (X-Chatbot-Signature, docs/handoff.md). "
            "Empty: no such route (404)."
        ),
    )

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_base_url")
    @classmethod
    def _an_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "PUBLIC_BASE_URL must be http(s)://host[:port], e.g. https://bot.example.com"
            )
        if parts.username is not None or parts.query or parts.fragment:
            raise ValueError("PUBLIC_BASE_URL takes no user, query or fragment")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            raise ValueError(f"PUBLIC_BASE_URL has a bad port: {value!r}") from None
        return value.strip()

    @field_validator("allowed_senders", mode="before")
    @classmethod
    def _split_senders(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(normalise_address(part) for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _token_when_validating(self) -> IngressSettings:
        if self.twilio_validate_signature and self.twilio_auth_token is None:
            raise ValueError("TWILIO_AUTH_TOKEN is required while TWILIO_VALIDATE_SIGNATURE is on")
        return self

    @model_validator(mode="after")
    def _public_url_when_validating(self) -> IngressSettings:
        if (
            self.twilio_validate_signature
            and self.public_base_url is None
            and not self.public_base_url_from_request
        ):
            raise ValueError(
                "PUBLIC_BASE_URL is required while TWILIO_VALIDATE_SIGNATURE is on: set it to "
                "the URL Twilio calls (https://host[:port]). Only for a local run or a test, "
                "PUBLIC_BASE_URL_FROM_REQUEST=true checks signatures on the URL the request "
                "names instead (its Host, or X-Forwarded-Proto/-Host with TRUST_PROXY_HEADERS)."
            )
        return self

    @property
    def signs_request_url(self) -> bool:
        """Whether signatures are checked on a URL built from the request's own headers."""
        return self.twilio_validate_signature and self.public_base_url is None
