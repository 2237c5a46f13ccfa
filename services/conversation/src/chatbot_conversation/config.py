"""Settings of the conversation service (environment only).

The model and how it is called, the turn design, per-user limits and inbound media. The
instructions file and the media type lists are checked at start-up, before any work is taken.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from chatbot_common.config import ServiceSettings

from .media.content_types import AUDIO_EXTENSIONS, IMAGE_TYPES, media_type
from .tools import Tools, load_tools

__all__ = ["DEFAULT_INSTRUCTIONS", "MIN_OUTPUT_TOKENS", "Backend", "ConversationSettings"]

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant answering on WhatsApp. Keep answers short and clear, "
    "use plain text with little formatting, and answer in the user's language."
)

Backend = Literal["responses", "chat"]

MIN_OUTPUT_TOKENS = 16
"""The smallest ``max_output_tokens`` the Responses API accepts."""

MediaTypes = Annotated[frozenset[str], NoDecode]
KeywordSet = Annotated[frozenset[str], NoDecode]
"""Words, read from the environment as a comma-separated list and compared case-folded."""
"""A set of media types, read from the environment as a comma-separated list."""


class ConversationSettings(ServiceSettings):
    """How the conversation service talks to the model and how much work it takes on."""

    port: int = Field(8081, ge=0, le=65535, description="Port of the health/metrics server.")
    openai_api_key: SecretStr = Field(description="API key for OpenAI (or the compatible server).")
    openai_base_url: str | None = Field(
        None, description="Base URL of the OpenAI API; unset means OpenAI itself."
    )
    openai_backend: Backend = Field(
        "responses",
        description=(
            "responses: one OpenAI Conversation per user (Responses API). chat: Chat "
            "Completions against any OpenAI-compatible server, history kept in NATS KV."
        ),
    )
    openai_model: str = Field("gpt-6.1-terra", min_length=1, description="Model that answers.")
    openai_instructions: str = Field(
        DEFAULT_INSTRUCTIONS, min_length=1, description="System instructions sent every turn."
    )
    openai_instructions_file: Path | None = Field(
        None, description="Read the instructions from this file instead (UTF-8, non-empty)."
    )
    openai_temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature; unset uses the model's default."
    )
    openai_max_output_tokens: int | None = Field(
        None,
        description="Cap on the tokens of one answer, at least 16; unset uses the model's limit.",
    )
    openai_timeout: float = Field(60.0, gt=0, description="Seconds one model request may take.")
    openai_max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts of one model request (retries of 429, 5xx, ...)."
    )
    openai_backoff_initial: float = Field(
        0.5, gt=0, description="Seconds before the first retry; doubles each time, jittered."
    )
    openai_backoff_max: float = Field(
        20.0, gt=0, description="Longest wait between two attempts (Retry-After may ask more)."
    )
    openai_retry_budget: float = Field(
        90.0, gt=0, description="Seconds one turn may spend retrying before it apologises."
    )
    openai_model_watch_interval: float = Field(
        6 * 3600.0,
        ge=0,
        description=(
            "Seconds between two lookups of the models in use (their shutdown dates, with the "
            "models API); 0 = never."
        ),
    )
    chat_max_tokens_parameter: Literal["max_completion_tokens", "max_tokens"] = Field(
        "max_completion_tokens",
        description=(
            "chat backend: the request field that carries OPENAI_MAX_OUTPUT_TOKENS; max_tokens "
            "only for a server that knows no other (OpenAI's reasoning models reject it)."
        ),
    )
    chat_history_tokens: int = Field(
        8000,
        ge=100,
        description="chat backend: history kept and sent, in estimated tokens (~4 chars each).",
    )
    coalesce_window: float = Field(
        1.0,
        ge=0,
        le=30,
        description="Seconds after a user's first unanswered message to wait for more; 0 = off.",
    )
    turn_max_input_chars: int = Field(
        20_000,
        ge=1000,
        description=(
            "Characters of user text one turn gives the model: a longer burst is answered in "
            "several turns, a longer single message is cut (and the user told)."
        ),
    )
    reply_max_chars: int = Field(
        8000,
        ge=1600,
        description=(
            "Characters of one reply at most (the sender sends it in 1600-character parts); "
            "a longer answer is cut short, and always to fit NATS's max payload."
        ),
    )
    turn_max_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description=(
            "Times one turn (one range of a user's messages) is attempted: after as many "
            "attempts that did not commit, the user gets the apology and the messages are "
            "dead-lettered, without asking the model again."
        ),
    )
    idle_reset_after: float = Field(
        86400.0,
        ge=0,
        description="Seconds of silence after which a user starts a new conversation; 0 = never.",
    )
    lease_ttl: float = Field(
        30.0,
        ge=0.5,
        description="Seconds a user's turn lease lasts unless renewed (a crashed holder's bound).",
    )
    inbound_ack_wait: float = Field(
        120.0,
        ge=1,
        description="Ack wait of the CHAT_INBOUND consumer: redelivery after a crash.",
    )
    max_concurrent_turns: int = Field(
        1000,
        ge=1,
        description="Inbound deliveries this process works on at once (turns and their waits).",
    )
    user_rate_limit: int = Field(
        20,
        ge=0,
        description=(
            "Messages one user may send per minute, counted per message: of a burst over it "
            "the first ones are answered and the user is told once about the rest; 0 = no limit."
        ),
    )
    user_daily_token_budget: int = Field(
        200_000, ge=0, description="Model tokens one user may use per UTC day; 0 = no budget."
    )
    openai_transcription_model: str = Field(
        "gpt-transcribe", min_length=1, description="Model that transcribes voice notes."
    )
    tools_file: Path | None = Field(
        None,
        description=(
            "YAML file of the tools the model may use (docs/tools.md); unset: none. Checked at "
            "start-up."
        ),
    )
    handoff_desk: Literal["none", "chatwoot", "webhook"] = Field(
        "none",
        description=(
            "Where a user who asks for a person is handed over: none, chatwoot, or webhook "
            "(any helpdesk, through our signed JSON: docs/handoff.md)."
        ),
    )
    handoff_keywords: KeywordSet = Field(
        frozenset({"human", "agent", "person"}),
        description=(
            "Messages that hand the user to a person (comma-separated; the whole message, any "
            "case)."
        ),
    )
    opt_out_keywords: KeywordSet = Field(
        frozenset({"stop", "unsubscribe"}),
        description=(
            "Messages that opt the user out of messages the business starts (comma-separated; "
            "the whole message, any case). Replies to their own messages still go."
        ),
    )
    opt_in_keywords: KeywordSet = Field(
        frozenset({"start"}),
        description="Messages that opt the user back in (comma-separated; the whole message).",
    )
    opt_out_message: str = Field(
        "You will get no more messages from us unless you write first. Write START to change "
        "your mind.",
        min_length=1,
        description="The one confirmation a user who opts out gets.",
    )
    opt_in_message: str = Field(
        "Welcome back: we may write to you again. Write STOP to opt out.",
        min_length=1,
        description="The confirmation a user who opts back in gets.",
    )
    handoff_message: str = Field(
        "I'm passing you to a person on our team. They will answer here as soon as they can.",
        min_length=1,
        description="What the user is told when a person takes over.",
    )
    handoff_return_message: str = Field(
        "You are back with the assistant. Ask me anything, or write 'person' to reach our team.",
        min_length=1,
        description="What the user is told when they are handed back to the bot.",
    )
    handoff_idle_timeout: float = Field(
        4 * 3600.0,
        ge=0,
        description=(
            "Seconds with no message from the person after which the user is handed back to "
            "the bot (and told); 0 = never."
        ),
    )
    handoff_check_interval: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds between looks at the handed-off users (idle timeout, the wait gauges)."
        ),
    )
    handoff_context_messages: int = Field(
        10,
        ge=0,
        le=50,
        description="The user's last messages shown to the person in the handoff's note.",
    )
    handoff_webhook_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+(/[^#]*)?$",
        description="Where the webhook desk's events are posted (HANDOFF_DESK=webhook).",
    )
    handoff_webhook_secret: SecretStr | None = Field(
        None,
        description=(
            "Key of the webhook desk's HMAC-SHA256 signatures, both ways (ingress checks the "
            "desk's with it); a secret."
        ),
    )
    chatwoot_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="Chatwoot's address, e.g. https://desk.example.com (HANDOFF_DESK=chatwoot).",
    )
    chatwoot_account_id: int | None = Field(None, ge=1, description="Chatwoot account id.")
    chatwoot_inbox_id: int | None = Field(
        None, ge=1, description="The Chatwoot API-channel inbox that handed-over users land in."
    )
    chatwoot_api_token: SecretStr | None = Field(
        None, description="A Chatwoot user's access token (api_access_token); a secret."
    )
    twilio_account_sid: str | None = Field(
        None,
        pattern=r"^AC[0-9a-fA-F]{32}$",
        description="Twilio account SID: the user name of media downloads (HTTP Basic auth).",
    )
    twilio_auth_token: SecretStr | None = Field(
        None, description="Twilio auth token: the password of media downloads."
    )
    twilio_api_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description=(
            "Replaces the scheme and host of Twilio media URLs (the sandbox in dev and tests); "
            "unset means Twilio itself."
        ),
    )
    media_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest attachment downloaded, in bytes."
    )
    media_max_count: int = Field(
        5, ge=1, le=10, description="Attachments of one message looked at; the rest are skipped."
    )
    media_timeout: float = Field(
        30.0, gt=0, description="Seconds one download attempt may take (redirects and body)."
    )
    media_max_attempts: int = Field(
        3, ge=1, le=10, description="Attempts of one download (retries of 5xx, 429, timeouts)."
    )
    media_image_types: MediaTypes = Field(
        frozenset({"image/jpeg", "image/png"}),
        description=(
            "Image types shown to the model (comma-separated; of image/jpeg, image/png, "
            "image/gif, image/webp). WhatsApp stickers are image/webp."
        ),
    )
    media_audio_types: MediaTypes = Field(
        frozenset(
            {"audio/ogg", "audio/mpeg", "audio/mp4", "audio/x-m4a", "audio/wav", "audio/webm"}
        ),
        description="Audio types transcribed (comma-separated; formats the transcriber reads).",
    )

    @field_validator("media_image_types", "media_audio_types", mode="before")
    @classmethod
    def _type_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(media_type(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("media_image_types")
    @classmethod
    def _images_the_model_reads(cls, types: frozenset[str]) -> frozenset[str]:
        if unknown := sorted(types - IMAGE_TYPES):
            raise ValueError(f"the model cannot read images of type {', '.join(unknown)}")
        return types

    @field_validator("media_audio_types")
    @classmethod
    def _audio_the_transcriber_reads(cls, types: frozenset[str]) -> frozenset[str]:
        if unknown := sorted(types - AUDIO_EXTENSIONS.keys()):
            known = ", ".join(sorted(AUDIO_EXTENSIONS))
            raise ValueError(f"cannot transcribe {', '.join(unknown)} (known: {known})")
        return types

    @field_validator("openai_max_output_tokens")
    @classmethod
    def _answer_cap_openai_takes(cls, cap: int | None) -> int | None:
        if cap is not None and cap < MIN_OUTPUT_TOKENS:
            raise ValueError(
                f"is {cap}; it must be at least {MIN_OUTPUT_TOKENS}, the smallest cap the "
                "Responses API accepts (unset it to use the model's own limit)"
            )
        return cap

    @model_validator(mode="after")
    def _twilio_credentials_in_pairs(self) -> ConversationSettings:
        if (self.twilio_account_sid is None) != (self.twilio_auth_token is None):
            raise ValueError("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither")
        return self

    @field_validator("handoff_keywords", "opt_out_keywords", "opt_in_keywords", mode="before")
    @classmethod
    def _keyword_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(word).strip().casefold() for word in value if str(word).strip())
        return value

    @model_validator(mode="after")
    def _desk_complete(self) -> ConversationSettings:
        if self.handoff_desk == "chatwoot":
            needed = {
                "CHATWOOT_BASE_URL": self.chatwoot_base_url,
                "CHATWOOT_ACCOUNT_ID": self.chatwoot_account_id,
                "CHATWOOT_INBOX_ID": self.chatwoot_inbox_id,
                "CHATWOOT_API_TOKEN": self.chatwoot_api_token,
            }
            if missing := [name for name, value in needed.items() if value is None]:
                raise ValueError(f"HANDOFF_DESK=chatwoot needs {', '.join(missing)}")
        if self.handoff_desk == "webhook" and (
            self.handoff_webhook_url is None or not _secret(self.handoff_webhook_secret)
        ):
            raise ValueError(
                "HANDOFF_DESK=webhook needs HANDOFF_WEBHOOK_URL and HANDOFF_WEBHOOK_SECRET"
            )
        return self

    @model_validator(mode="after")
    def _tools_usable(self) -> ConversationSettings:
        """Read the tools file (once: :attr:`tools` keeps it) and check it fits the backend."""
        if self.openai_backend == "chat" and self.tools is not None and self.tools.hosted:
            raise ValueError(
                "the tools file lists hosted tools, which only the Responses API runs; remove "
                "them, or set OPENAI_BACKEND=responses"
            )
        return self

    @cached_property
    def tools(self) -> Tools | None:
        """The tools file's tools, read once; none without a file, unless a desk is set (the
        model is then offered ``handoff_to_human`` alone)."""
        if self.tools_file is not None:
            return load_tools(self.tools_file)
        return Tools() if self.handoff_desk != "none" else None

    @field_validator("openai_instructions_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            _read_instructions(path)
        return path

    @cached_property
    def instructions(self) -> str:
        """The instructions every turn sends: the file's text when a file is set."""
        if self.openai_instructions_file is None:
            return self.openai_instructions
        return _read_instructions(self.openai_instructions_file)


def _secret(value: SecretStr | None) -> bool:
    """Whether ``value`` holds a secret (set, and not empty)."""
    return value is not None and bool(value.get_secret_value())


def _read_instructions(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the instructions file {path}: {exc}") from None
    if not text:
        raise ValueError(f"the instructions file {path} is empty")
    return text
