"""The README's settings tables and .env.example, generated from the settings classes.

Each setting is described once, in its pydantic field (description, default, ``examples``); this
writes the tables between the README's ``<!-- settings:NAME:start -->`` / ``end`` markers and
the whole of .env.example from them.

    python hack/settings_docs.py          # exit 1 if either file is not current
    python hack/settings_docs.py --write  # regenerate both (make settings-docs)
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from chatbot_common.config import ServiceSettings
from chatbot_console.config import ConsoleSettings
from chatbot_conversation.config import ConversationSettings
from chatbot_devstack.run import RunSettings
from chatbot_ingress.config import IngressSettings
from chatbot_sandbox.process import SandboxSettings
from chatbot_sender.config import SenderSettings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"

SERVICES: dict[str, type[BaseSettings]] = {
    "ingress": IngressSettings,
    "conversation": ConversationSettings,
    "sender": SenderSettings,
    "console": ConsoleSettings,
    "sandbox": SandboxSettings,
    "`make run`": RunSettings,
}
PIPELINE = ("ingress", "conversation", "sender")


@dataclass(frozen=True)
class Table:
    """One table: a marker name, its title in .env.example, and the settings class it shows."""

    name: str
    title: str
    settings: type[BaseSettings]
    shared: bool = False


TABLES = (
    Table("shared", "Shared by ingress, conversation and sender", ServiceSettings, shared=True),
    Table("ingress", "ingress", IngressSettings),
    Table("conversation", "conversation (OpenAI)", ConversationSettings),
    Table("sender", "sender (Twilio)", SenderSettings),
    Table("console", "console (operators)", ConsoleSettings),
    Table("sandbox", "Sandbox (development and tests only)", SandboxSettings),
    Table("run", "make run", RunSettings),
)

ENV_HEADER = """\
# chatbot settings. Copy to .env and uncomment only what you change.
#
# `make run` reads .env and works with it empty or missing: it runs everything on this machine
# against the sandbox (fake Twilio, local responder that is not a real model). The process
# environment wins over .env, and .env wins over make run's local defaults.
# Leave a line commented out instead of empty: `NAME=` counts as set, to an empty value.
# The services themselves read only environment variables (in Kubernetes: env and Secrets).
# Generated from the settings classes by hack/settings_docs.py (make settings-docs): edit the
# field's description there. README.md#configuration has the same settings as tables.
"""
ENV_FOOTER = """\
# ---------------------------------------------------------------------------------------------
# Observability (standard OpenTelemetry variables, read by the SDK)
# ---------------------------------------------------------------------------------------------

# OTLP/HTTP collector; traces are exported only when this (or the traces endpoint) is set.
# OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318

# Full traces URL; overrides OTEL_EXPORTER_OTLP_ENDPOINT for traces.
# OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces

# Headers for the collector, e.g. an API key.
# OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20token

# Service name on spans; defaults to ingress/conversation/sender. Leave unset under make run.
# OTEL_SERVICE_NAME=chatbot-ingress
"""


def env_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    return alias.upper() if isinstance(alias, str) else name.upper()


def shown(value: object) -> str:
    """A default as a user writes it in the environment."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, frozenset | set):
        return ",".join(sorted(str(item) for item in value))
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict) and not value:
        return ""
    return str(value)


def default(field: FieldInfo) -> str:
    """The README's Default cell."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    text = shown(value)
    if not text:
        return "empty"
    if " " in text:
        return "built in: see [.env.example](.env.example)"  # prose, such as the instructions
    return f"`{text}`"


def readers(env: str) -> list[str]:
    """The services that read the environment variable ``env``."""
    return [
        service
        for service, settings in SERVICES.items()
        if any(env_name(n, f) == env for n, f in settings.model_fields.items())
    ]


def rows(table: Table) -> Iterator[tuple[str, FieldInfo, str, str]]:
    """(variable, field, default cell, services cell) of each setting the table shows."""
    shared = {env_name(name, field) for name, field in ServiceSettings.model_fields.items()}
    for name, field in table.settings.model_fields.items():
        env = env_name(name, field)
        if env in shared and not table.shared:
            continue  # in the shared table (the sandbox's SANDBOX_HOST is not HOST)
        if table.shared:
            yield env, field, *shared_cells(name, env)
        else:
            yield env, field, default(field), ", ".join(readers(env))


def shared_cells(name: str, env: str) -> tuple[str, str]:
    """A shared setting's default and services: one each, or per service where they differ."""
    defaults = [default(SERVICES[service].model_fields[name]) for service in PIPELINE]
    if len(set(defaults)) > 1:
        return " / ".join(defaults), " / ".join(PIPELINE)
    others = [service for service in readers(env) if service not in PIPELINE]
    return defaults[0], ", ".join(["all three", *others])


def markdown(table: Table) -> str:
    lines = ["| Setting | Default | Services | Meaning |", "|---|---|---|---|"]
    for env, field, cell, label in rows(table):
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{env}` | {cell} | {label} | {meaning} |")
    return "\n".join(lines)


def env_line(env: str, field: FieldInfo) -> str:
    if field.examples:
        return f"# {env}={shown(field.examples[0])}"
    if field.is_required():
        return f"# {env}="
    value = field.get_default(call_default_factory=True)
    return f"# {env}={'' if value is None else shown(value)}"


def env_example() -> str:
    parts = [ENV_HEADER]
    seen: set[str] = set()
    for table in TABLES:
        block = ["# " + "-" * 93, f"# {table.title}", "# " + "-" * 93, ""]
        for env, field, _, _ in rows(table):
            if env in seen:
                continue
            seen.add(env)
            text = field.description or ""
            if field.is_required():
                text = f"Required. {text}"
            block += textwrap.wrap(text, 94, initial_indent="# ", subsequent_indent="# ")
            block += [env_line(env, field), ""]
        parts.append("\n".join(block))
    parts.append(ENV_FOOTER)
    return "\n".join(parts)


def readme(text: str) -> str:
    for table in TABLES:
        start, end = f"<!-- settings:{table.name}:start -->", f"<!-- settings:{table.name}:end -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no {start} ... {end} markers")
        generated = f"{start}\n{markdown(table)}\n{end}"
        text = pattern.sub(lambda _, block=generated: block, text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files")
    args = parser.parse_args()
    wanted = {README: readme(README.read_text()), ENV_EXAMPLE: env_example()}
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if args.write:
        for path in stale:
            path.write_text(wanted[path])
        return 0
    for path in stale:
        print(f"{path.relative_to(ROOT)} is not current: run make settings-docs")  # noqa: T201
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
