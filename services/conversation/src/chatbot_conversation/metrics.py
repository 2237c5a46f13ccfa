"""Prometheus metrics of the conversation service, declared in one place.

Labels are low-cardinality (model names, fixed words), never user keys, numbers or text. Fixed
series are created at import, per-model ones by a start hook (the model is a setting).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from chatbot_common.config import ServiceSettings
from chatbot_common.dlq import DEAD_LETTERS
from chatbot_common.metrics import at_start

from .config import ConversationSettings

__all__ = [
    "BATCH_SIZE",
    "CONVERSATIONS_REPLACED",
    "LEASE_CONTENTION",
    "LLM_ERRORS",
    "LLM_SECONDS",
    "MODEL_LOOKUPS",
    "MODEL_SHUTDOWN",
    "MODEL_UNKNOWN",
    "OPT_CHANGES",
    "TOKENS",
    "TURNS",
    "TURNS_IN_FLIGHT",
    "TURN_MODEL_CALLS",
    "TURN_OUTCOMES",
    "TURN_OVERHEAD_SECONDS",
    "TURN_RETRIES",
    "TURN_SECONDS",
    "preinitialise_model",
]

TURN_OUTCOMES = (
    "replied",
    "command",
    "rate_limited",
    "over_budget",
    "gave_up",
    "failed",
    "recovered",
    "media_refused",
    "abandoned",
    "handed_off",
    "forwarded",
    "desk_failed",
    "opted_out",
    "opted_in",
)
_DEAD_LETTER_REASONS = (
    "malformed",
    "llm_failed",
    "llm_retries_exhausted",
    "turn_attempts_exhausted",
    "desk_unavailable",
)
_LLM_ERRORS = (
    "insufficient_quota",
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
    "conversation_locked",
    "rejected",
    "empty_output",
)
"""The ``error`` values of ``chatbot_llm_errors_total`` (kinds of retry.classify, and empty)."""


TURNS = Counter(
    "chatbot_turns_total",
    "Turns finished, by outcome: replied, command, rate_limited, over_budget, gave_up, failed, "
    "recovered (a dead holder's reply found published), media_refused, abandoned (attempted "
    "TURN_MAX_ATTEMPTS times without a commit: apologised, dead-lettered), handed_off (to a "
    "person), forwarded (to the person who has the user), desk_failed (the desk did not take "
    "it: dead-lettered).",
    ["outcome"],
)
OPT_CHANGES = Counter(
    "chatbot_opt_changes_total",
    "Users who opted out of (out) or back into (in) messages the business starts.",
    ["change"],
)
TURN_SECONDS = Histogram(
    "chatbot_turn_seconds",
    "Time of one turn, from taking the user's lease to committing the answer.",
    # Up to the model's timeout plus the retry budget (60 s + 90 s by default).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
)
TURN_OVERHEAD_SECONDS = Histogram(
    "chatbot_turn_overhead_seconds",
    "The service's own time in one turn: the turn minus its model requests and retry waits.",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5),
)
TURNS_IN_FLIGHT = Gauge(
    "chatbot_turns_in_flight",
    "Turns this process is working on: gathering a user's messages (coalescing window), "
    "asking the model, publishing and committing.",
)
BATCH_SIZE = Histogram(
    "chatbot_turn_batch_messages",
    "Inbound messages answered together by one turn (coalesced).",
    buckets=(1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50),
)
TURN_MODEL_CALLS = Histogram(
    "chatbot_turn_model_calls",
    "Model requests one turn attempt made (answers and transcriptions, each retry counted), "
    "whether the attempt committed or failed.",
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30),
)
TURN_RETRIES = Counter(
    "chatbot_turn_retries_total",
    "Turns started again for a range of a user's messages an earlier attempt did not commit "
    "(after a crash, a cancellation or a failure of the turn).",
)
LEASE_CONTENTION = Counter(
    "chatbot_lease_contention_total",
    "Deliveries that found another turn of the same user running (waited for it or returned).",
)
LLM_SECONDS = Histogram(
    "chatbot_llm_request_seconds",
    "Time of one model request, by model and outcome (ok or the error kind).",
    ["model", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
LLM_ERRORS = Counter(
    "chatbot_llm_errors_total",
    "Failed model requests, by model and error kind (retried or not).",
    ["model", "error"],
)
CONVERSATIONS_REPLACED = Counter(
    "chatbot_conversations_replaced_total",
    "Users' OpenAI Conversations the API no longer knew (404: deleted, expired, another "
    "project or a restarted sandbox), each replaced by a new one without the earlier context.",
)
MODEL_SHUTDOWN = Gauge(
    "chatbot_model_shutdown_timestamp_seconds",
    "When a model in use shuts down (Unix time, midnight UTC of the date the models API gives); "
    "no series for a model with no shutdown date.",
    ["model"],
)
MODEL_UNKNOWN = Gauge(
    "chatbot_model_unknown",
    "1 while the models API does not know a model in use (404 at its last lookup), else 0.",
    ["model"],
)
MODEL_LOOKUPS = Counter(
    "chatbot_model_lookups_total",
    "Lookups of a model in use with the models API, by outcome: active, retiring (a shutdown "
    "date), unknown (the API does not know it), failed, unsupported (no models endpoint).",
    ["model", "outcome"],
)
TOKENS = Counter(
    "chatbot_llm_tokens_total",
    "Tokens used by model requests, by model and kind (input, output).",
    ["model", "kind"],
)

for _change in ("out", "in"):
    OPT_CHANGES.labels(_change)
for _outcome in TURN_OUTCOMES:
    TURNS.labels(_outcome)
for _reason in _DEAD_LETTER_REASONS:
    DEAD_LETTERS.labels("conversation", _reason)


def preinitialise_model(model: str) -> None:
    """Create ``model``'s series: requests, errors by kind and tokens, all at zero."""
    LLM_SECONDS.labels(model, "ok")
    for error in _LLM_ERRORS:
        LLM_ERRORS.labels(model, error)
    for kind in ("input", "output"):
        TOKENS.labels(model, kind)


@at_start
def _preinitialise_configured_model(settings: ServiceSettings) -> None:
    if isinstance(settings, ConversationSettings):
        preinitialise_model(settings.openai_model)
