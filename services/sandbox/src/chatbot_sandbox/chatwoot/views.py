"""The JSON Chatwoot answers and posts (its jbuilder views and its models' webhook data): what
the services, the chat page and the tests read, and the identifiers."""

from __future__ import annotations

from typing import Any

from chatbot_sandbox.chatwoot.records import Agent, Contact, Conversation, Message

__all__ = ["contact_json", "conversation_json", "message_created", "message_json", "status_changed"]

_MESSAGE_TYPES = {"incoming": 0, "outgoing": 1}


def contact_json(contact: Contact) -> dict[str, Any]:
    """A contact."""
    return {
        "id": contact.id,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "identifier": contact.identifier,
    }


def _sender(sender: Contact | Agent) -> dict[str, Any]:
    if isinstance(sender, Contact):
        return contact_json(sender)
    return {"id": sender.id, "name": sender.name, "type": "user"}


def _with_attachments(data: dict[str, Any], message: Message) -> dict[str, Any]:
    if not message.attachments:
        return data
    attachments = [
        {"id": a.id, "message_id": message.id, "file_type": a.file_type, "data_url": a.data_url}
        for a in message.attachments
    ]
    return data | {"attachments": attachments}


def message_json(message: Message) -> dict[str, Any]:
    """A message, as the messages API answers it."""
    data = {
        "id": message.id,
        "content": message.content,
        "conversation_id": message.conversation_id,
        "message_type": _MESSAGE_TYPES[message.message_type],
        "created_at": message.created_at,
        "private": message.private,
        "source_id": message.source_id,
        "sender": _sender(message.sender),
    }
    return _with_attachments(data, message)


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """A conversation, as the conversations API answers it and its webhooks carry it."""
    return {
        "meta": {"sender": contact_json(conversation.contact_inbox.contact)},
        "id": conversation.id,
        "status": conversation.status,
        "custom_attributes": conversation.custom_attributes,
        "timestamp": conversation.last_activity_at,
        "last_activity_at": conversation.last_activity_at,
    }


def message_created(message: Message, conversation: Conversation) -> dict[str, Any]:
    """The ``message_created`` webhook body (``message_type`` a name here, not a number)."""
    data = {
        "event": "message_created",
        "id": message.id,
        "content": message.content,
        "message_type": message.message_type,
        "private": message.private,
        "sender": _sender(message.sender),
        "conversation": conversation_json(conversation),
    }
    return _with_attachments(data, message)


def status_changed(conversation: Conversation, previous: str) -> list[dict[str, Any]]:
    """The webhook bodies of a status change, as Chatwoot sends both:
    ``conversation_status_changed``, then ``conversation_updated`` with what changed."""
    data = conversation_json(conversation)
    change = {"status": {"previous_value": previous, "current_value": conversation.status}}
    return [
        {"event": "conversation_status_changed"} | data,
        {"event": "conversation_updated", "changed_attributes": [change]} | data,
    ]
