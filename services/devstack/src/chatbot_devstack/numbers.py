"""The local Twilio account (the sandbox's defaults), its business number and content
templates, the test users."""

from __future__ import annotations

from chatbot_sandbox.chat.settings import DEFAULT_BUSINESS_NUMBER as BUSINESS_NUMBER
from chatbot_sandbox.twilio.settings import DEFAULT_ACCOUNT_SID as ACCOUNT_SID
from chatbot_sandbox.twilio.settings import DEFAULT_AUTH_TOKEN as AUTH_TOKEN
from chatbot_sandbox.twilio.settings import ORDER_READY_TEMPLATE_SID, REENGAGE_TEMPLATE_SID

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "BUSINESS_NUMBER",
    "ORDER_READY_TEMPLATE_SID",
    "REENGAGE_TEMPLATE_SID",
    "USER",
    "user_number",
]


def user_number(index: int) -> str:
    """The WhatsApp address of test user ``index``: ``whatsapp:+1555`` and seven digits."""
    return f"whatsapp:+1555{index:07d}"


USER = user_number(1111)
"""The user of a test with one user (and of `make chat`): whatsapp:+15550001111."""
