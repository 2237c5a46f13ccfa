"""Handing a user to a person at a helpdesk, and back (docs/handoff.md)."""

from .chatwoot import ChatwootDesk
from .desk import Desk, DeskError, DeskUser, Forwarded
from .webhook import WebhookDesk

__all__ = ["ChatwootDesk", "Desk", "DeskError", "DeskUser", "Forwarded", "WebhookDesk"]
