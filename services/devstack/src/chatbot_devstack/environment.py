"""What the local services talk to (the sandbox, OpenAI, Twilio), and the environment they get."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from .numbers import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, REENGAGE_TEMPLATE_SID
from .ports import Ports

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "EXAMPLE_TOOLS",
    "SANDBOX_MODEL_LABEL",
    "LocalModes",
    "example_tools_file",
    "local_environment",
    "local_modes",
]

DEFAULT_OPENAI_MODEL = "gpt-6.1-terra"
"""The conversation service's default OPENAI_MODEL (a test keeps the two equal)."""
SANDBOX_MODEL_LABEL = "sandbox-echo"
"""What the chat page and the banner call the sandbox's responder unless told otherwise."""
EXAMPLE_TOOLS = ("lookup_order", "current_time")
"""The functions of `make run`'s tools file, served by the sandbox's example endpoints."""
OPENAI_API_URL = "https://api.openai.com/v1"
TWILIO_API_URL = "https://api.twilio.com"


@dataclass(frozen=True)
class LocalModes:
    """Who answers and who delivers, read from the environment the services get.

    The banner of ``make run`` and the chat page both show this, so it is derived once, from
    the URLs the services will really call rather than from which keys look real: a user's
    own OPENAI_BASE_URL or TWILIO_API_BASE_URL is reported as what it is.
    """

    model_provider: Literal["sandbox", "openai", "compatible"]
    model_label: str
    model_url: str
    twilio_real: bool
    twilio_url: str
    public_base_url: str

    @property
    def public_url_is_local(self) -> bool:
        """Whether PUBLIC_BASE_URL is a loopback address, which the real Twilio cannot reach."""
        host = self.public_base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return host in {"127.0.0.1", "localhost", "[::1]", "0.0.0.0"}  # noqa: S104


def local_modes(env: Mapping[str, str], ports: Ports) -> LocalModes:
    """What the services configured by ``env`` talk to: the sandbox, OpenAI, Twilio."""
    sandbox = f"http://127.0.0.1:{ports.sandbox}"
    model_url = (env.get("OPENAI_BASE_URL") or OPENAI_API_URL).rstrip("/")
    provider: Literal["sandbox", "openai", "compatible"]
    if model_url == f"{sandbox}/v1":
        provider = "sandbox"
        label = env.get("SANDBOX_MODEL_LABEL") or SANDBOX_MODEL_LABEL
    else:
        provider = "openai" if model_url == OPENAI_API_URL else "compatible"
        label = env.get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL
    twilio_url = (env.get("TWILIO_API_BASE_URL") or TWILIO_API_URL).rstrip("/")
    return LocalModes(
        model_provider=provider,
        model_label=label,
        model_url=model_url,
        twilio_real=twilio_url != sandbox,
        twilio_url=twilio_url,
        public_base_url=env.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{ports.ingress}",
    )


def local_environment(ports: Ports, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with local defaults for everything it leaves unset.

    Without OPENAI_API_KEY the conversation service talks to the sandbox's responder; without
    TWILIO_ACCOUNT_SID the sender talks to the sandbox's Twilio; without HANDOFF_DESK users are
    handed to the sandbox's Chatwoot. Real keys in ``base`` win.
    The sandbox is then told what the services talk to (SANDBOX_MODEL_LABEL,
    SANDBOX_MODEL_PROVIDER, SANDBOX_TWILIO_REAL), so its chat page names the model that
    really answers and warns when replies go to real WhatsApp instead of to the page.
    """
    env = dict(base)
    sandbox = f"http://127.0.0.1:{ports.sandbox}"
    defaults = {
        "NATS_URL": f"nats://127.0.0.1:{ports.nats}",
        "USER_KEY_SECRET": "local-development-user-key-secret",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.ingress}",
        "SANDBOX_INGRESS_URL": f"http://127.0.0.1:{ports.ingress}",
    }
    if not env.get("OPENAI_API_KEY"):
        defaults |= {"OPENAI_API_KEY": "sandbox", "OPENAI_BASE_URL": f"{sandbox}/v1"}
    if not env.get("CONSOLE_TOKEN"):
        # A new one each run: `make run` prints it (the console's password).
        defaults |= {"CONSOLE_TOKEN": secrets.token_urlsafe(32), "CONSOLE_SECURE_COOKIES": "false"}
    if not env.get("HANDOFF_DESK"):
        # The sandbox's fake Chatwoot is the desk: its agent pane plays the person.
        desk_token, webhook_secret = "local-chatwoot-token", "local-chatwoot-webhook-secret"
        defaults |= {
            "HANDOFF_DESK": "chatwoot",
            "CHATWOOT_BASE_URL": sandbox,
            "CHATWOOT_ACCOUNT_ID": "1",
            "CHATWOOT_INBOX_ID": "1",
            "CHATWOOT_API_TOKEN": desk_token,
            "CHATWOOT_WEBHOOK_SECRET": webhook_secret,
            "SANDBOX_CHATWOOT_ACCOUNT_ID": "1",
            "SANDBOX_CHATWOOT_INBOX_ID": "1",
            "SANDBOX_CHATWOOT_API_TOKEN": desk_token,
            "SANDBOX_CHATWOOT_WEBHOOK_SECRET": webhook_secret,
            "SANDBOX_CHATWOOT_WEBHOOK_URL": f"http://127.0.0.1:{ports.ingress}/desk/chatwoot",
        }
    if not env.get("TWILIO_ACCOUNT_SID"):
        defaults |= {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": sandbox,
            "TWILIO_WHATSAPP_FROM": BUSINESS_NUMBER,
            # The sandbox's own re-engagement template (docs/outreach.md).
            "REENGAGE_CONTENT_SID": REENGAGE_TEMPLATE_SID,
        }
    for key, value in defaults.items():
        env.setdefault(key, value)
    modes = local_modes(env, ports)
    env["SANDBOX_MODEL_PROVIDER"] = modes.model_provider
    env["SANDBOX_MODEL_LABEL"] = modes.model_label
    env["SANDBOX_TWILIO_REAL"] = "true" if modes.twilio_real else "false"
    return env


def example_tools_file(directory: Path, sandbox_url: str) -> Path:
    """Write `make run`'s tools file (docs/tools.md) for the sandbox at ``sandbox_url``."""
    order = {"type": "string", "description": "The order number, e.g. 1042."}
    functions = [
        {
            "name": "lookup_order",
            "description": "Look up a customer's order by its number: what it is and where.",
            "parameters": {"type": "object", "properties": {"order": order}, "required": ["order"]},
            "url": f"{sandbox_url}/tools/lookup_order",
        },
        {
            "name": "current_time",
            "description": "The current date and time (UTC).",
            "parameters": {"type": "object", "properties": {}},
            "url": f"{sandbox_url}/tools/current_time",
        },
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tools.yaml"
    header = "# make run's example tools, served by the sandbox. Set TOOLS_FILE to use yours.\n"
    path.write_text(header + yaml.safe_dump({"functions": functions}, sort_keys=False))
    return path
