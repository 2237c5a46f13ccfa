"""Settings of the fake Chatwoot: the token it accepts, its ids, and where its webhooks go."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

__all__ = ["ChatwootSettings"]


class ChatwootSettings(BaseSettings):
    """The account and API inbox the fake Chatwoot has, and its inbox's webhook."""

    chatwoot_api_token: SecretStr = Field(
        SecretStr("sandbox-chatwoot-token"),
        min_length=1,
        validation_alias="SANDBOX_CHATWOOT_API_TOKEN",
        description="Access token the fake Chatwoot API accepts (`api_access_token` header).",
    )
    chatwoot_account_id: int = Field(
        1,
        ge=1,
        validation_alias="SANDBOX_CHATWOOT_ACCOUNT_ID",
        description="The fake Chatwoot's one account (`/api/v1/accounts/{id}`).",
    )
    chatwoot_inbox_id: int = Field(
        1,
        ge=1,
        validation_alias="SANDBOX_CHATWOOT_INBOX_ID",
        description="The id of the account's one inbox, an API channel.",
    )
    chatwoot_webhook_url: str | None = Field(
        None,
        validation_alias="SANDBOX_CHATWOOT_WEBHOOK_URL",
        description=(
            "Where the inbox posts its signed webhooks (message_created, status changes); "
            "unset sends none."
        ),
    )
    chatwoot_webhook_secret: SecretStr = Field(
        SecretStr("sandbox-chatwoot-webhook-secret"),
        min_length=1,
        validation_alias="SANDBOX_CHATWOOT_WEBHOOK_SECRET",
        description="Key of the webhooks' HMAC-SHA256 `X-Chatwoot-Signature`.",
    )
