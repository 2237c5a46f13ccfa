"""Entry point: ``chatbot-console``."""

from __future__ import annotations

from chatbot_common.runtime import serve

from .app import create_app
from .config import ConsoleSettings

__all__ = ["main"]


def main() -> None:
    """Run the console with settings from the environment until SIGTERM."""
    settings = ConsoleSettings()
    serve(create_app(settings), service="console", settings=settings)
