"""Entry point: ``chatbot-ingress``."""

from __future__ import annotations

from chatbot_common.runtime import serve

from .app import create_app
from .config import IngressSettings

__all__ = ["main"]


def main() -> None:
    """Run ingress with settings from the environment until SIGTERM."""
    settings = IngressSettings()
    serve(create_app(settings), service="ingress", settings=settings)
