"""Settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own fields. Values come from the
environment only (the container's env and Secrets); `make run` fills local defaults into the
environment before it starts the processes, so no service reads a file on its own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["HttpSettings", "NatsSettings", "ServiceSettings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class HttpSettings(BaseSettings):
    """Where a process serves HTTP, and how it logs."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    host: str = Field(
        "127.0.0.1", description="Interface the HTTP server binds to; 0.0.0.0 in a container."
    )
    port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="HTTP port: webhooks and health on ingress, health and metrics on the workers.",
    )
    log_level: LogLevel = Field(
        "INFO", description="Minimum level of the log lines: DEBUG, INFO, WARNING or ERROR."
    )


class NatsSettings(BaseSettings):
    """How a service reaches NATS JetStream."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated for a cluster."
    )
    nats_connect_timeout: float = Field(
        15.0,
        gt=0,
        description=(
            "Seconds to keep trying the first connection before the process exits; after "
            "that it reconnects for ever."
        ),
    )
    nats_publish_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a JetStream PubAck."
    )
    nats_duplicate_window: float = Field(
        7200.0,
        ge=3600,
        description=(
            "Seconds in which JetStream drops a repeated Nats-Msg-Id (at least 3600; the same "
            "value in every service)."
        ),
    )
    nats_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="Replicas of each stream and KV bucket (1 to 5); 3 on a clustered NATS.",
    )
    drain_timeout: float = Field(
        20.0,
        gt=0,
        description=(
            "Seconds SIGTERM waits for in-hand work before NATS is drained; below the pod's "
            "grace period."
        ),
    )


class ServiceSettings(HttpSettings, NatsSettings):
    """A service of the pipeline: HTTP (health, metrics) plus NATS plus the user-key secret."""

    user_key_secret: SecretStr = Field(
        description=(
            "Secret of the keyed hash that names each conversation; the same in all three. "
            "Changing it starts new conversations for everyone."
        ),
        examples=["change-me-to-a-long-random-string"],
    )
