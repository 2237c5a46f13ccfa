"""`chatbot-sandbox`: run the sandbox on SANDBOX_HOST:SANDBOX_PORT.

Logging is configured before uvicorn starts and uvicorn is told not to install its own, so the
sandbox writes the same JSON lines as the services.
"""

from __future__ import annotations

import uvicorn

from chatbot_common.logging import configure_logging
from chatbot_sandbox.app import create_app
from chatbot_sandbox.config import SandboxSettings

__all__ = ["main"]


def main() -> None:
    """Read the settings from the environment and serve until interrupted."""
    settings = SandboxSettings()
    configure_logging("sandbox", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws="none",
    )


if __name__ == "__main__":
    main()
