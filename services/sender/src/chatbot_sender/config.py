"""Settings of the sender service (environment only)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from chatbot_common.config import ServiceSettings

__all__ = ["SenderSettings"]


class SenderSettings(ServiceSettings):
    """How the sender reaches Twilio, which number it sends from, and how fast."""

    port: int = Field(8082, ge=0, le=65535, description="Port of the health/metrics server.")
    twilio_account_sid: str = Field(description="Twilio account SID (AC...).")
    twilio_auth_token: SecretStr = Field(description="Twilio auth token.")
    twilio_api_base_url: str | None = Field(
        None,
        description=(
            "Base URL that replaces both Twilio hosts the sender calls (api.twilio.com for "
            "Messages, messaging.twilio.com for typing indicators); unset means Twilio itself."
        ),
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
    send_rate_per_second: float = Field(
        10.0,
        gt=0,
        description=(
            "Messages per second one sender (number or Messaging Service) may send, per "
            "replica: divide the sender's limit by the replica count."
        ),
    )
    send_rate_burst: int = Field(
        1, ge=1, description="Messages one sender may send at once before the rate applies."
    )
    send_rate_max_wait: float = Field(
        2.0,
        ge=0,
        description=(
            "Longest a send waits in the handler for its rate-limit token; a longer wait "
            "returns the message to the stream with that delay."
        ),
    )
    reengage_content_sid: str | None = Field(
        None,
        pattern=r"^HX[0-9a-fA-F]{32}$",
        description=(
            "Approved WhatsApp template (Content SID, HX...) sent in place of a free-form "
            "message that finds the user's 24-hour window closed; unset or empty: such a "
            "message is dead-lettered (outside_window)."
        ),
    )
    send_typing_indicator: bool = Field(
        True, description="Show WhatsApp's typing indicator when asked (kind=typing messages)."
    )
    send_media: bool = Field(
        True,
        description="Send media URLs as WhatsApp media; off sends them as links in the text.",
    )
    delivery_record_hold: float = Field(
        900.0,
        gt=0,
        description=(
            "Seconds a reply waits while CHAT_DELIVERIES refuses writes (nothing is sent "
            "meanwhile) before it is dead-lettered as record_unavailable."
        ),
    )
    send_backoff_max: float = Field(
        60.0,
        gt=0,
        description=(
            "Longest wait before a failed send is tried again; the wait doubles from 1 s with "
            "each delivery (Twilio's Retry-After, when given, is used instead)."
        ),
    )
    send_ack_wait: float = Field(
        60.0,
        gt=0,
        description=(
            "Seconds the sender may work on a message without news before NATS redelivers "
            "it (how soon a crashed replica's message is retried)."
        ),
    )

    @model_validator(mode="after")
    def _ack_wait_covers_each_step(self) -> SenderSettings:
        # The handler reports progress before each rate-limit wait and before each Twilio call
        # (whose part is then recorded in KV); no single step may outlast the ack wait, or NATS
        # would hand the message to another replica while this one still sends it.
        step = max(self.send_rate_max_wait, self.twilio_timeout + self.nats_publish_timeout)
        if self.send_ack_wait <= step:
            raise ValueError(
                f"SEND_ACK_WAIT ({self.send_ack_wait:g}s) must exceed the longest step: "
                f"SEND_RATE_MAX_WAIT or TWILIO_TIMEOUT + NATS_PUBLISH_TIMEOUT ({step:g}s)"
            )
        return self
