"""Settings of the sender service (environment only)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from chatbot_common.config import ServiceSettings

__all__ = ["SenderSettings"]


class SenderSettings(ServiceSettings):
    """How the sender reaches Twilio and which number it sends from."""

    port: int = Field(8082, ge=0, le=65535, description="Port of the health/metrics server.")
    twilio_account_sid: str = Field(description="Twilio account SID (AC...).")
    twilio_auth_token: SecretStr = Field(description="Twilio auth token.")
    twilio_api_base_url: str | None = Field(
        None, description="Base URL of Twilio's REST API; unset means Twilio itself."
    )
    twilio_whatsapp_from: str | None = Field(
        None, description="Default sender, e.g. whatsapp:+14155238886."
    )
    twilio_messaging_service_sid: str | None = Field(
        None, description="Send through this Messaging Service (MG...) instead of a number."
    )
    public_base_url: str | None = Field(
        None, description="Public URL of ingress; status callbacks go to its /twilio/status."
    )
    twilio_timeout: float = Field(15.0, gt=0, description="Seconds one Twilio request may take.")
    max_concurrent_sends: int = Field(100, ge=1, description="Messages sent at once.")
