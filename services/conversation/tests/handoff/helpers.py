"""What the handoff tests share: the service's desk settings, a user handed to a person, and
what the model's context and the metrics hold."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

HANDED = "I'm passing you to a person on our team. They will answer here as soon as they can."
RETURNED = "You are back with the assistant. Ask me anything, or write 'person' to reach our team."


def desk_settings(chat: Any) -> dict[str, Any]:
    settings = chat.sandbox.settings
    return {
        "handoff_desk": "chatwoot",
        "chatwoot_base_url": chat.sandbox.base_url,
        "chatwoot_account_id": settings.chatwoot_account_id,
        "chatwoot_inbox_id": settings.chatwoot_inbox_id,
        "chatwoot_api_token": settings.chatwoot_api_token,
    }


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def handed_off(chat: Any) -> Any:
    """Hand Alice to a person by keyword; the desk's conversation."""
    seq = await chat.send("person")
    await chat.answered(seq)
    (conversation,) = chat.sandbox.store.chatwoot.conversations.values()
    return conversation


def context_of(chat: Any) -> list[tuple[str, str]]:
    """The (role, text) messages of Alice's OpenAI Conversation, oldest first."""
    (conversation,) = chat.sandbox.store.conversations.values()
    return [
        (item["role"], " ".join(part.get("text", "") for part in item["content"]))
        if isinstance(item.get("content"), list)
        else (item["role"], item["content"])
        for item in conversation.items
        if item.get("type") == "message"
    ]
