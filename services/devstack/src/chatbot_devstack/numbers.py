"""The local Twilio account, its WhatsApp business number, and the test users' numbers."""

from __future__ import annotations

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "BUSINESS_NUMBER", "USER", "user_number"]

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - the sandbox's own, not a real secret
BUSINESS_NUMBER = "whatsapp:+14155238886"
"""The business's WhatsApp sender (Twilio's sandbox number)."""


def user_number(index: int) -> str:
    """The WhatsApp address of test user ``index``: ``whatsapp:+1555`` and seven digits."""
    return f"whatsapp:+1555{index:07d}"


USER = user_number(1111)
"""The user of a test with one user (and of `make chat`): whatsapp:+15550001111."""
