"""What the fake Chatwoot keeps: one account's contacts and conversations, the requests and
webhook deliveries, and the faults tests queue."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
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
    "json_object",
    "not_found",
]

_E164 = re.compile(r"\+[1-9]\d{1,14}\Z")  # Chatwoot's own: not anchored at the start


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


def not_found() -> ChatwootError:
    """Rails' RecordNotFound, as Chatwoot answers it."""
    return ChatwootError(404, {"error": "Resource could not be found"})


@dataclass(slots=True)
class Contact:
    """A person the inbox talks to (here: a WhatsApp user)."""

    id: int
    name: str
    phone_number: str | None
    identifier: str | None
    custom_attributes: dict[str, Any]
    created_at: int


@dataclass(slots=True)
class ContactInbox:
    """A contact's address in the inbox (``source_id``: here, whatever the API client chose)."""

    id: int
    contact: Contact
    source_id: str


@dataclass(slots=True)
class Agent:
    """A sender other than the contact: a user (an agent) or an agent bot."""

    type: Literal["user", "agent_bot"]
    id: int
    name: str
    email: str | None = None


@dataclass(slots=True)
class Attachment:
    """A message's file, served at its ``data_url`` (``token`` names it there)."""

    id: int
    message_id: int
    file_type: str
    content_type: str
    data: bytes
    data_url: str
    token: str


@dataclass(slots=True)
class Message:
    """A conversation's message, note or activity."""

    id: int
    conversation_id: int
    message_type: str  # incoming, outgoing, activity or template
    content: str | None
    private: bool
    sender: Contact | Agent
    content_type: str = "text"
    content_attributes: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(slots=True)
class Conversation:
    """A conversation of a contact inbox, and its messages, oldest first."""

    id: int  # the display id, per account
    contact_inbox: ContactInbox
    status: str
    custom_attributes: dict[str, Any]
    additional_attributes: dict[str, Any]
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: int = field(default_factory=lambda: int(datetime.now(UTC).timestamp()))
    last_activity_at: int = 0
    messages: list[Message] = field(default_factory=list)


class ChatwootAccount:
    """The account, its one API inbox, and what was created in them (until cleared)."""

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
            raise not_found() from None

    def add_contact(self, params: dict[str, Any]) -> Contact:
        """A new contact, validated as Chatwoot's model is (422 with every error)."""
        phone, identifier = params.get("phone_number") or None, params.get("identifier") or None
        errors: list[tuple[str, str]] = []
        if phone is not None and not _E164.search(str(phone)):
            errors.append(("phone_number", "Phone number should be in e164 format"))
        for name, value in (("phone_number", phone), ("identifier", identifier)):
            if value is not None and any(getattr(c, name) == value for c in self.contacts.values()):
                errors.append(
                    (name, f"{name.replace('_', ' ').capitalize()} has already been taken")
                )
        if errors:
            message = ", ".join(text for _, text in errors)
            attributes = list(dict.fromkeys(name for name, _ in errors))
            raise ChatwootError(422, {"message": message, "attributes": attributes})
        contact = Contact(
            self.next_id("contact"),
            str(params.get("name") or ""),
            phone,
            identifier,
            json_object(params.get("custom_attributes")),
            int(datetime.now(UTC).timestamp()),
        )
        self.contacts[contact.id] = contact
        return contact

    def contact_inbox(self, contact: Contact, source_id: object) -> ContactInbox:
        """The contact's contact inbox with this source id (a new uuid when none), maybe new;
        422 when another contact has that source id."""
        key = str(source_id or uuid.uuid4())
        if key in self.contact_inboxes and self.contact_inboxes[key].contact is not contact:
            raise ChatwootError(422, {"error": "source_id should be unique"})
        if key not in self.contact_inboxes:
            self.contact_inboxes[key] = ContactInbox(self.next_id("contact_inbox"), contact, key)
        return self.contact_inboxes[key]

    def delete_contact(self, contact: Contact) -> list[int]:
        """Forget a contact, its contact inboxes, and their conversations with their messages
        and attachments; the conversations' display ids."""
        del self.contacts[contact.id]
        for key in [k for k, held in self.contact_inboxes.items() if held.contact is contact]:
            del self.contact_inboxes[key]
        gone = [c for c in self.conversations.values() if c.contact_inbox.contact is contact]
        files = {a.token for c in gone for m in c.messages for a in m.attachments}
        for conversation in gone:
            del self.conversations[conversation.id]
        for token in files:
            self.attachments.pop(token, None)
        return [conversation.id for conversation in gone]

    def set_status(self, conversation: Conversation, status: object) -> str | None:
        """Give the conversation a status (422 when there is no such one): the previous status
        when it changed, else None."""
        if status not in ("open", "resolved", "pending", "snoozed"):
            raise ChatwootError(422, {"error": f"'{status}' is not a valid status"})
        previous, conversation.status = conversation.status, str(status)
        return previous if previous != status else None


def json_object(value: object) -> dict[str, Any]:
    """A JSON object param as given, else empty."""
    return dict(value) if isinstance(value, dict) else {}


@dataclass(slots=True)
class ChatwootRequestRecord:
    """One request to the fake Chatwoot API and the status it answered (None: in flight)."""

    method: str
    path: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_code: int | None = None


@dataclass(slots=True)
class WebhookDeliveryRecord:
    """One webhook posted (once: Chatwoot does not retry), with its answer or error."""

    event: str
    conversation_id: int
    delivery_id: str
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    response_status: int | None = None
    error: str | None = None


class ChatwootFault(BaseModel):
    """A failure for the next ``times`` API requests (``POST /_sandbox/chatwoot/faults``)."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(
        None, description="Answer this: 429 (rack-attack's plain text) or a 5xx."
    )
    delay: float = Field(0.0, ge=0, le=600, description="Seconds to wait before answering.")
    times: int = Field(1, ge=1, le=100_000, description="How many requests it hits.")
    path: str | None = Field(None, description="Only requests whose path contains this.")

    @field_validator("status")
    @classmethod
    def _throttled_or_broken(cls, status: int | None) -> int | None:
        if status is not None and status != 429 and not 500 <= status <= 599:
            raise ValueError("a Chatwoot fault answers 429 or a 5xx")
        return status
