"""Settings of the ingress service (environment only)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from chatbot_common.config import ServiceSettings

__all__ = ["IngressSettings", "normalise_address"]


def normalise_address(address: str) -> str:
    """``whatsapp:+1 555 000`` and ``+1555000`` name the same sender."""
    return "".join(address.strip().removeprefix("whatsapp:").split())


class IngressSettings(ServiceSettings):
    """Where ingress listens and how it checks what Twilio sends."""

    port: int = Field(8080, ge=0, le=65535, description="Port of the public webhook server.")
    twilio_auth_token: SecretStr | None = Field(
        None, description="Twilio auth token: the key Twilio signs webhooks with."
    )
    public_base_url: str | None = Field(
        None,
        description="The URL Twilio calls (scheme://host[:port]); signatures are checked on it.",
    )
    twilio_validate_signature: bool = Field(
        True, description="Reject webhooks without a valid X-Twilio-Signature (keep on)."
    )
    trust_proxy_headers: bool = Field(
        False,
        description="Rebuild the signed URL from X-Forwarded-Proto/-Host if no public URL.",
    )
    max_body_bytes: int = Field(65536, gt=0, description="Largest webhook body accepted.")
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
