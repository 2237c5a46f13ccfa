"""The user key: stable, keyed, subject-safe, and different per business number."""

from __future__ import annotations

import re

import pytest

from chatbot_common.userkey import USER_KEY_LENGTH, user_key

USER = "whatsapp:+15550001111"
BUSINESS = "whatsapp:+15550002222"


def test_same_inputs_same_key_and_subject_safe() -> None:
    key = user_key("secret", BUSINESS, USER)
    assert key == user_key("secret", BUSINESS, USER)
    assert re.fullmatch(r"[0-9a-f]+", key)
    assert len(key) == USER_KEY_LENGTH


def test_key_is_not_the_number() -> None:
    assert "5550001111" not in user_key("secret", BUSINESS, USER)
    assert user_key("secret", BUSINESS, USER) != user_key("secret", USER, BUSINESS)


def test_secret_business_number_and_user_each_change_the_key() -> None:
    base = user_key("secret", BUSINESS, USER)
    assert user_key("other", BUSINESS, USER) != base
    assert user_key("secret", "whatsapp:+15550003333", USER) != base
    assert user_key("secret", BUSINESS, "whatsapp:+15550004444") != base


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        user_key("", BUSINESS, USER)
