"""The settings every service shares: read from the environment as pydantic-settings reads it."""

from __future__ import annotations

import pytest

from chatbot_common.config import ServiceSettings


def test_an_empty_environment_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # `NAME=` left in a .env file or a shell means "not set", not an empty value.
    monkeypatch.setenv("LOG_LEVEL", "")
    monkeypatch.setenv("NATS_URL", "")
    settings = ServiceSettings(user_key_secret="s" * 32)
    assert (settings.log_level, settings.nats_url) == ("INFO", "nats://127.0.0.1:4222")
