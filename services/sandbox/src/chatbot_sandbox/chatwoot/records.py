"""What the fake Chatwoot keeps: one account's contacts and conversations, the requests and
webhook deliveries, and the faults tests queue."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

__all__ = [
    "NOT_FOUND",
    "Agent",
    "Attachment",
    "ChatwootAccount",
    "ChatwootError",
    "ChatwootFault",
    "ChatwootRequestRecord",
    "Contact",
    "ContactInbox",
    "Conversation",
    "Message",
    "WebhookDeliveryRecord",
]


@dataclass
class ChatwootError(Exception):
    """A refusal as Chatwoot answers it: JSON, plain text, or (None) an empty body."""

    status: int
    body: dict[str, Any] | str | None = None

    def response(self) -> Response:
        """The answer."""
        if isinstance(self.body, dict):
            return JSONResponse(self.body, self.status)
        return PlainTextResponse(self.body or "", self.status)


NOT_FOUND = {"error": "Resource could not be found"}
"""Rails' RecordNotFound, as Chatwoot answers it (404)."""


def _now() -> int:
    return int(time.time())


@dataclass(slots=True)
class Contact:
    """A person the inbox talks to (here: a WhatsApp user)."""

    id: int
    name: str
    phone_number: str | None
    identifier: str | None


@dataclass(slots=True)
class ContactInbox:
    """A contact's address in the inbox (``source_id``: whatever the API client chose)."""

    contact: Contact
    source_id: str


@dataclass(slots=True)
class Agent:
    """A user of the account who sends messages: the API's token holder, or an agent."""

    id: int
    name: str


@dataclass(slots=True)
class Attachment:
    """A message's file, served at its ``data_url`` (``token`` names it there)."""

    id: int
    file_type: str
    content_type: str
    data: bytes
    data_url: str
    token: str


@dataclass(slots=True)
class Message:
    """A conversation's message or private note."""

    id: int
    conversation_id: int
    message_type: Literal["incoming", "outgoing"]
    content: str | None
    private: bool
    sender: Contact | Agent
    source_id: str | None = None
    created_at: int = field(default_factory=_now)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(slots=True)
class Conversation:
    """A conversation of a contact inbox, and its messages, oldest first."""

    id: int  # the display id, per account
    contact_inbox: ContactInbox
    status: str
    custom_attributes: dict[str, Any]
    last_activity_at: int = field(default_factory=_now)
    messages: list[Message] = field(default_factory=list)


class ChatwootAccount:
    """The account, its one API inbox, and what was created in them."""

    def __init__(self, account_id: int, inbox_id: int) -> None:
        self.id, self.inbox_id = account_id, inbox_id
        self.contacts: dict[int, Contact] = {}
        self.contact_inboxes: dict[str, ContactInbox] = {}  # by source_id
        self.conversations: dict[int, Conversation] = {}
        self.attachments: dict[str, Attachment] = {}  # by token
        self._last_ids: Counter[str] = Counter()

    def next_id(self, kind: str) -> int:
        """The next id of a kind of record: 1, 2, ..."""
        self._last_ids[kind] += 1
        return self._last_ids[kind]

    def find[T](self, records: dict[int, T], key: object) -> T:
        """A record by id (a number or its digits); 404 when there is none."""
        try:
            return records[int(str(key))]
        except (KeyError, ValueError):
            raise ChatwootError(404, NOT_FOUND) from None

    def contact_inbox(self, contact: Contact, source_id: str) -> ContactInbox:
        """The contact's contact inbox with this source id, maybe new; 422 when another
        contact has it."""
        held = self.contact_inboxes.setdefault(source_id, ContactInbox(contact, source_id))
        if held.contact is not contact:
            raise ChatwootError(422, {"error": "source_id should be unique"})
        return held

    def delete_contact(self, contact: Contact) -> list[int]:
        """Forget a contact, its contact inboxes, and their conversations with their messages
        and attachments; the conversations' display ids."""
        del self.contacts[contact.id]
        for key in [k for k, held in self.contact_inboxes.items() if held.contact is contact]:
            del self.contact_inboxes[key]
        gone = [c for c in self.conversations.values() if c.contact_inbox.contact is contact]
        for conversation in gone:
            del self.conversations[conversation.id]
            for message in conversation.messages:
                for attachment in message.attachments:
                    del self.attachments[attachment.token]
        return [conversation.id for conversation in gone]


@dataclass(slots=True)
class ChatwootRequestRecord:
    """One request to the fake Chatwoot API and the status it answered (None: in flight)."""

    method: str
    path: str
    status_code: int | None = None


@dataclass(slots=True)
class WebhookDeliveryRecord:
    """One webhook posted (once: Chatwoot does not retry), with its answer or error."""

    event: str
    conversation_id: int
    delivery_id: str
    response_status: int | None = None
    error: str | None = None


class ChatwootFault(BaseModel):
    """A failure for the next ``times`` API requests (``POST /_sandbox/chatwoot/faults``)."""

    status: Literal[429, 500, 502, 503, 504] | None = Field(
        None, description="Answer this: 429 (rack-attack's plain text) or a 5xx."
    )
    delay: float = Field(0.0, ge=0, description="Seconds to wait before answering.")
    times: int = Field(1, ge=1, description="How many requests it hits.")
    path: str | None = Field(None, description="Only requests whose path contains this.")
