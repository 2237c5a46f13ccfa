"""What `make run` tells the sandbox and the user about the three modes.

Local (no keys): the sandbox's responder answers and its Twilio delivers to the chat page.
Real OpenAI (OPENAI_API_KEY): OpenAI answers, Twilio is still the sandbox. Real Twilio
(TWILIO_* and PUBLIC_BASE_URL): replies go to real WhatsApp. The banner and the chat page
must both say which, from the environment the services really get.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot_conversation.config import ConversationSettings
from chatbot_conversation.tools import load_tools
from chatbot_devstack import (
    DEFAULT_OPENAI_MODEL,
    LocalStack,
    Ports,
    StackError,
    example_tools_file,
    local_environment,
    port_is_free,
)
from chatbot_devstack.run import banner, free_ports_instead
from chatbot_sandbox.process import SandboxSettings

PORTS = Ports()
REAL_TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "12" * 16,
    "TWILIO_AUTH_TOKEN": "real-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155550100",
    "PUBLIC_BASE_URL": "https://abc.trycloudflare.example",
}


def banner_for(environment: dict[str, str]) -> str:
    """The banner of a `make run` with this environment."""
    stack = LocalStack(ports=PORTS, run_dir=Path(".run"), environment=environment, sink=print)
    return banner(stack, Path(".run/logs"))


def sandbox_settings(env: dict[str, str]) -> SandboxSettings:
    """The settings the sandbox process would read from this environment."""
    values = {k: v for k, v in env.items() if k.startswith(("SANDBOX_", "TWILIO_", "PUBLIC_"))}
    return SandboxSettings.model_validate(values)


def test_the_default_model_is_the_conversation_services_default() -> None:
    assert ConversationSettings.model_fields["openai_model"].default == DEFAULT_OPENAI_MODEL


def test_with_no_keys_everything_is_the_sandbox() -> None:
    env = local_environment(PORTS, {})
    settings = sandbox_settings(env)

    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:8090/v1"
    assert (settings.model_provider, settings.model_label) == ("sandbox", "sandbox-echo")
    assert settings.twilio_real is False
    assert settings.ingress_url == "http://127.0.0.1:8080"
    assert settings.webhook_url == "http://127.0.0.1:8080/twilio/messages"
    text = banner_for({})
    assert "chat page     http://127.0.0.1:8090/" in text
    assert "sandbox-echo: the sandbox's echo responder, not a real model" in text
    assert "the sandbox's fake Twilio at http://127.0.0.1:8090" in text


@pytest.mark.parametrize(
    ("model", "label"), [({}, DEFAULT_OPENAI_MODEL), ({"OPENAI_MODEL": "my-model"}, "my-model")]
)
def test_with_an_openai_key_openai_answers_and_twilio_stays_local(
    model: dict[str, str], label: str
) -> None:
    given = {"OPENAI_API_KEY": "sk-test", **model}
    env = local_environment(PORTS, given)
    settings = sandbox_settings(env)

    assert "OPENAI_BASE_URL" not in env
    assert (settings.model_provider, settings.model_label) == ("openai", label)
    assert settings.twilio_real is False
    text = banner_for(given)
    assert f"model         {label} on OpenAI (https://api.openai.com/v1)" in text
    assert "the sandbox's fake Twilio" in text


def test_a_compatible_server_is_named_as_such() -> None:
    given = {"OPENAI_API_KEY": "x", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}
    settings = sandbox_settings(local_environment(PORTS, given))

    assert settings.model_provider == "compatible"
    assert "OpenAI-compatible server at http://127.0.0.1:11434/v1" in banner_for(given)


def test_with_twilio_keys_replies_go_to_real_whatsapp() -> None:
    env = local_environment(PORTS, REAL_TWILIO)
    settings = sandbox_settings(env)

    assert "TWILIO_API_BASE_URL" not in env
    assert settings.twilio_real is True
    assert settings.model_provider == "sandbox"
    # The chat page still signs for the URL ingress checks, and posts to ingress locally.
    assert settings.webhook_url == "https://abc.trycloudflare.example/twilio/messages"
    assert settings.ingress_url == "http://127.0.0.1:8080"
    assert settings.twilio_auth_token.get_secret_value() == "real-token"
    assert settings.business_address == "whatsapp:+14155550100"
    text = banner_for(REAL_TWILIO)
    assert "REAL Twilio (https://api.twilio.com)" in text
    assert "WARNING" not in text


def test_real_twilio_without_a_public_url_is_warned_about() -> None:
    given = {k: v for k, v in REAL_TWILIO.items() if k != "PUBLIC_BASE_URL"}
    assert "WARNING       PUBLIC_BASE_URL is a local address" in banner_for(given)


def test_a_label_of_ones_own_names_the_local_responder() -> None:
    env = local_environment(PORTS, {"SANDBOX_MODEL_LABEL": "my-echo"})
    assert sandbox_settings(env).model_label == "my-echo"


@pytest.fixture
def two_busy_ports() -> Iterator[tuple[int, int]]:
    """Two ports another `make run` holds."""
    with (
        socket.create_server(("127.0.0.1", 0)) as one,
        socket.create_server(("127.0.0.1", 0)) as two,
    ):
        yield one.getsockname()[1], two.getsockname()[1]


def test_busy_default_ports_move_to_free_ones_with_one_message_naming_all(
    two_busy_ports: tuple[int, int],
) -> None:
    nats, ingress = two_busy_ports
    ports = dataclasses.replace(Ports.free(), nats=nats, ingress=ingress)
    moved, message = free_ports_instead(ports, chosen=set())
    assert (moved.conversation, moved.sender, moved.sandbox) == (
        ports.conversation,
        ports.sender,
        ports.sandbox,
    )
    assert port_is_free(moved.nats)
    assert port_is_free(moved.ingress)
    assert len({port for _, port in moved.items()}) == len(Ports().names())
    assert message is not None
    assert f"ports {nats} (nats), {ingress} (ingress) are in use" in message
    assert f"NATS_PORT={moved.nats} INGRESS_PORT={moved.ingress}" in message


def test_a_busy_port_the_user_chose_is_an_error_naming_every_busy_port(
    two_busy_ports: tuple[int, int],
) -> None:
    nats, ingress = two_busy_ports
    ports = dataclasses.replace(Ports.free(), nats=nats, ingress=ingress)
    with pytest.raises(StackError) as refused:
        free_ports_instead(ports, chosen={"ingress"})
    assert f"ports {nats} (nats), {ingress} (ingress) are already in use" in str(refused.value)
    assert "INGRESS_PORT" in str(refused.value)
    assert free_ports_instead(Ports.free(), chosen=set())[1] is None


def test_make_run_s_example_tools_are_a_file_the_service_reads_for_the_sandbox(
    tmp_path: Path,
) -> None:
    path = example_tools_file(tmp_path, "http://127.0.0.1:8090")
    tools = load_tools(path)
    assert [(f.name, str(f.url)) for f in tools.functions] == [
        ("lookup_order", "http://127.0.0.1:8090/tools/lookup_order"),
        ("current_time", "http://127.0.0.1:8090/tools/current_time"),
    ]
    assert [f.include_phone for f in tools.functions] == [False, False]
    stack = LocalStack(
        ports=PORTS, run_dir=tmp_path, environment={"TOOLS_FILE": str(path)}, sink=print
    )
    assert "  tools         lookup_order, current_time: the sandbox's examples" in banner(
        stack, tmp_path / "logs"
    )
    assert "  tools         none" in banner_for({})
    assert "  tools         from /etc/tools.yaml" in banner_for({"TOOLS_FILE": "/etc/tools.yaml"})


def test_users_are_handed_to_the_sandbox_s_chatwoot_unless_a_desk_is_set() -> None:
    env = local_environment(PORTS, {})
    settings = sandbox_settings(env)
    assert env["HANDOFF_DESK"] == "chatwoot"
    assert env["CHATWOOT_BASE_URL"] == "http://127.0.0.1:8090"
    assert settings.chatwoot_webhook_url == "http://127.0.0.1:8080/desk/chatwoot"
    # Both ends share the token and the webhook secret.
    assert settings.chatwoot_api_token.get_secret_value() == env["CHATWOOT_API_TOKEN"]
    assert settings.chatwoot_webhook_secret.get_secret_value() == env["CHATWOOT_WEBHOOK_SECRET"]
    assert "handoff       the sandbox's Chatwoot: write 'person'" in banner_for({})

    given = {"HANDOFF_DESK": "none"}
    assert "CHATWOOT_BASE_URL" not in local_environment(PORTS, given)
    assert "  handoff       none (HANDOFF_DESK)" in banner_for(given)


def test_make_run_makes_a_console_token_and_prints_it() -> None:
    env = local_environment(PORTS, {})
    assert len(env["CONSOLE_TOKEN"]) >= 32
    assert env["CONSOLE_SECURE_COOKIES"] == "false"  # plain HTTP on this machine
    assert local_environment(PORTS, {})["CONSOLE_TOKEN"] != env["CONSOLE_TOKEN"]
    assert local_environment(PORTS, {"CONSOLE_TOKEN": "mine" * 8})["CONSOLE_TOKEN"] == "mine" * 8
    text = banner_for({"CONSOLE_TOKEN": "t" * 32})
    assert f"console       http://127.0.0.1:8083/   token {'t' * 32}" in text
