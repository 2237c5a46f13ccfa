"""`chatbot-sandbox`: run the sandbox on SANDBOX_HOST:SANDBOX_PORT.

Logging is configured before uvicorn starts and uvicorn is told not to install its own, so the
sandbox writes the same JSON lines as the services. The chat page keeps an event stream open
for as long as it is shown, and uvicorn waits for open responses before it exits: so shutdown
first ends the chat's streams (the page then says it is reconnecting), and a short graceful
timeout bounds anything else, so Ctrl-C on `make run` stays quick.
"""

from __future__ import annotations

import socket

import uvicorn

from chatbot_common.logging import configure_logging
from chatbot_sandbox.app import create_app
from chatbot_sandbox.chat_hub import ChatHub
from chatbot_sandbox.config import SandboxSettings

__all__ = ["SHUTDOWN_TIMEOUT", "main"]

SHUTDOWN_TIMEOUT = 2
"""Seconds open responses (the chat's event streams) get to finish once SIGTERM arrives."""


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
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
    )
    _Server(config, app.state.chat_hub).run()


class _Server(uvicorn.Server):
    """uvicorn, ending the chat's event streams as soon as shutdown starts."""

    def __init__(self, config: uvicorn.Config, hub: ChatHub) -> None:
        super().__init__(config)
        self._hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._hub.close()
        await super().shutdown(sockets)


if __name__ == "__main__":
    main()
