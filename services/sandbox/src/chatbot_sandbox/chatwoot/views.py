"""The JSON Chatwoot answers and posts: its jbuilder views, and its models' webhook data."""

from __future__ import annotations

from typing import Any

from chatbot_sandbox.chatwoot.records import (
    Agent,
    Attachment,
    ChatwootAccount,
    Contact,
    Conversation,
    Message,
)

__all__ = [
    "ACCOUNT_NAME",
    "INBOX_NAME",
    "MESSAGE_TYPES",
    "contact_json",
    "conversation_json",
    "inbox_json",
    "message_created",
    "message_json",
    "status_changed",
]

ACCOUNT_NAME = "Sandbox"
INBOX_NAME = "Sandbox WhatsApp"
MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}


def inbox_json(account: ChatwootAccount) -> dict[str, Any]:
    """The inbox, as a contact inbox shows it."""
    return {"id": account.inbox_id, "name": INBOX_NAME, "channel_type": "Channel::Api"}


def contact_json(
    contact: Contact, account: ChatwootAccount | None = None, *, typed: bool = False
) -> dict[str, Any]:
    """A contact; with its contact inboxes when ``account`` is given; ``typed``: as an event's."""
    data: dict[str, Any] = {
        "additional_attributes": {},
        "availability_status": "offline",
        "email": None,
        "id": contact.id,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "blocked": False,
        "identifier": contact.identifier,
        "thumbnail": "",
        "custom_attributes": contact.custom_attributes,
        "created_at": contact.created_at,
    }
    if account is not None:
        data["contact_inboxes"] = [
            {"source_id": source_id, "inbox": inbox_json(account)}
            for source_id, held in account.contact_inboxes.items()
            if held.contact is contact
        ]
    return data | {"type": "contact"} if typed else data


def _sender(sender: Contact | Agent, *, typed: bool) -> dict[str, Any]:
    if isinstance(sender, Contact):
        return contact_json(sender, typed=typed)
    data: dict[str, Any] = {"id": sender.id, "name": sender.name, "type": sender.type}
    return data | {"email": sender.email} if sender.type == "user" else data


def _attachment(attachment: Attachment, account: ChatwootAccount) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "message_id": attachment.message_id,
        "file_type": attachment.file_type,
        "account_id": account.id,
        "extension": None,  # only some channels set it
        "data_url": attachment.data_url,
        "thumb_url": attachment.data_url if attachment.file_type == "image" else "",
        "file_size": len(attachment.data),
    }


def message_json(message: Message, account: ChatwootAccount) -> dict[str, Any]:
    """A message, as the messages API answers it."""
    data: dict[str, Any] = {
        "id": message.id,
        "content": message.content,
        "inbox_id": account.inbox_id,
        "conversation_id": message.conversation_id,
        "message_type": MESSAGE_TYPES[message.message_type],
        "content_type": message.content_type,
        "status": "sent",
        "content_attributes": message.content_attributes,
        "created_at": int(message.created_at.timestamp()),
        "private": message.private,
        "source_id": message.source_id,
        "sender": _sender(message.sender, typed=True),
    }
    return data | _attachments(message, account)


def _attachments(message: Message, account: ChatwootAccount) -> dict[str, Any]:
    if not message.attachments:
        return {}
    return {"attachments": [_attachment(a, account) for a in message.attachments]}


def _last_chat_message(conversation: Conversation) -> list[Message]:
    chat = [m for m in conversation.messages if m.message_type != "activity" and not m.private]
    return chat[-1:]


def conversation_json(conversation: Conversation, account: ChatwootAccount) -> dict[str, Any]:
    """A conversation, as the conversations API answers it (with its last chat message)."""
    return {
        "meta": {
            "sender": contact_json(conversation.contact_inbox.contact),
            "channel": "Channel::Api",
            "assignee": None,
            "hmac_verified": False,
        },
        "id": conversation.id,
        "messages": [message_json(m, account) for m in _last_chat_message(conversation)],
        "account_id": account.id,
        "uuid": conversation.uuid,
        "inbox_id": account.inbox_id,
        "status": conversation.status,
        "custom_attributes": conversation.custom_attributes,
        "additional_attributes": conversation.additional_attributes,
        "labels": [],
        "unread_count": _unread(conversation),
        "created_at": conversation.created_at,
        "timestamp": conversation.last_activity_at,
        "last_activity_at": conversation.last_activity_at,
    }


def _unread(conversation: Conversation) -> int:
    return sum(m.message_type == "incoming" for m in conversation.messages)  # no agent saw any


def _conversation_data(conversation: Conversation, account: ChatwootAccount) -> dict[str, Any]:
    """A conversation's webhook data: the API's, but for its ``meta``, ``uuid`` and account."""
    data = conversation_json(conversation, account)
    del data["uuid"], data["account_id"]
    held = conversation.contact_inbox
    return data | {
        "meta": {"sender": contact_json(held.contact, typed=True), "assignee": None},
        "channel": "Channel::Api",
        "can_reply": True,
        "contact_inbox": {
            "id": held.id,
            "contact_id": held.contact.id,
            "inbox_id": account.inbox_id,
            "source_id": held.source_id,
            "hmac_verified": False,
        },
        "snoozed_until": None,
        "account": {"id": account.id, "name": ACCOUNT_NAME},
    }


def message_created(
    message: Message, conversation: Conversation, account: ChatwootAccount
) -> dict[str, Any]:
    """The ``message_created`` webhook body (``message_type`` a name here, not a number)."""
    created = message.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    data = {
        "event": "message_created",
        "id": message.id,
        "content": message.content,
        "message_type": message.message_type,
        "content_type": message.content_type,
        "content_attributes": message.content_attributes,
        "additional_attributes": {},
        "private": message.private,
        "source_id": message.source_id,
        "created_at": created,
        "sender": _sender(message.sender, typed=False),
        "inbox": {"id": account.inbox_id, "name": INBOX_NAME},
        "account": {"id": account.id, "name": ACCOUNT_NAME},
        "conversation": _conversation_data(conversation, account),
    }
    return data | _attachments(message, account)


def status_changed(
    conversation: Conversation, account: ChatwootAccount, previous: str
) -> list[dict[str, Any]]:
    """The webhook bodies of a status change: ``conversation_status_changed``, then
    ``conversation_updated`` with what changed."""
    data = _conversation_data(conversation, account)
    change = {"status": {"previous_value": previous, "current_value": conversation.status}}
    return [
        data | {"event": "conversation_status_changed", "changed_attributes": None},
        data | {"event": "conversation_updated", "changed_attributes": [change]},
    ]
