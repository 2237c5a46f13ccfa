"""Entry point: ``chatbot-conversation``."""

from __future__ import annotations

from chatbot_common.runtime import serve

from .app import create_app
from .config import ConversationSettings

__all__ = ["main"]


def main() -> None:
    """Run the conversation service with settings from the environment until SIGTERM."""
    settings = ConversationSettings()
    serve(create_app(settings), service="conversation", settings=settings)
