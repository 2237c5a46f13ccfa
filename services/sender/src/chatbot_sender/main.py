"""Entry point: ``chatbot-sender``."""

from __future__ import annotations

from chatbot_common.runtime import serve

from .app import create_app
from .config import SenderSettings

__all__ = ["main"]


def main() -> None:
    """Run the sender with settings from the environment until SIGTERM."""
    settings = SenderSettings()
    serve(create_app(settings), service="sender", settings=settings)
