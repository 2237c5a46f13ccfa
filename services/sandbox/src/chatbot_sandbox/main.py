"""`chatbot-sandbox`: serve the sandbox on SANDBOX_HOST:SANDBOX_PORT until interrupted."""

from __future__ import annotations

import socket

import uvicorn

from chatbot_common.logging import configure_logging
from chatbot_sandbox.app import create_app
from chatbot_sandbox.chat.hub import ChatHub
from chatbot_sandbox.process import SandboxSettings

__all__ = ["main"]


def main() -> None:
    """Read the settings from the environment and serve until interrupted."""
    settings = SandboxSettings()
    configure_logging("sandbox", settings.log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # request lines would carry media paths and chat users
        ws="none",
        timeout_graceful_shutdown=2,  # seconds the chat's event streams get to end
    )
    _Server(config, app.state.chat_hub).run()


class _Server(uvicorn.Server):
    """uvicorn, ending the chat's event streams as soon as shutdown starts (Ctrl-C stays quick)."""

    def __init__(self, config: uvicorn.Config, hub: ChatHub) -> None:
        super().__init__(config)
        self._hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._hub.close()
        await super().shutdown(sockets)
