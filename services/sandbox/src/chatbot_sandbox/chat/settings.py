"""Settings of the chat page: what it shows, and where and how it posts its webhooks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chatbot_sandbox.twilio.settings import TwilioCredentials

__all__ = ["DEFAULT_BUSINESS_NUMBER", "ChatSettings"]

DEFAULT_BUSINESS_NUMBER = "whatsapp:+14155238886"
"""Twilio's WhatsApp Sandbox number: the business number local chats write to."""


class ChatSettings(TwilioCredentials):
    """What the page shows about the system, and where and how its webhooks are posted."""

    model_label: str = Field(
        "sandbox-echo",
        min_length=1,
        validation_alias="SANDBOX_MODEL_LABEL",
        description=(
            "Name of the model that answers, shown on the chat page and at /_sandbox/info: "
            "the responder's name, or the real model's under `make run` with an OpenAI key."
        ),
    )
    model_provider: Literal["sandbox", "openai", "compatible"] = Field(
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

    @property
    def business_address(self) -> str:
        """The business number as a WhatsApp address (``whatsapp:+...``), as Twilio sends To."""
        return "whatsapp:" + self.business_number.removeprefix("whatsapp:")

    @property
    def webhook_url(self) -> str:
        """The URL the webhooks are signed for, as Twilio signs the URL it calls."""
        return (self.public_base_url or self.ingress_url).rstrip("/") + "/twilio/messages"
