"""The user key: a keyed hash that names one conversation without revealing a phone number.

It is derived from the business number *and* the user's address, so several business numbers in
one deployment keep separate conversations. It is lowercase hex, so safe as a NATS subject
token and a KV key.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["USER_KEY_LENGTH", "user_key"]

USER_KEY_LENGTH = 32
"""128 bits in hex: collisions are out of reach for any real number of users."""


def user_key(secret: str, to: str, from_: str) -> str:
    """Return the subject-safe key of the conversation between ``from_`` and ``to``."""
    if not secret:
        raise ValueError("user key secret must not be empty")
    digest = hmac.new(secret.encode(), f"{to}|{from_}".encode(), hashlib.sha256).digest()
    return digest[:16].hex()
