"""What a route takes from ``app.state``, where ``create_app`` put it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from chatbot_sandbox.chat.hub import ChatHub
from chatbot_sandbox.chatwoot.webhooks import WebhookSender
from chatbot_sandbox.process import SandboxSettings, SandboxStore
from chatbot_sandbox.twilio.callbacks import StatusReporter

__all__ = ["ChatwootWebhooks", "Hub", "Reporter", "Settings", "Store"]


def _state(name: str) -> Any:
    async def get(request: Request) -> Any:  # async: FastAPI runs a plain def in a thread
        return getattr(request.app.state, name)

    return Depends(get)


Settings = Annotated[SandboxSettings, _state("settings")]
Store = Annotated[SandboxStore, _state("store")]
Hub = Annotated[ChatHub, _state("chat_hub")]
Reporter = Annotated[StatusReporter, _state("status_reporter")]
ChatwootWebhooks = Annotated[WebhookSender, _state("chatwoot_webhooks")]
