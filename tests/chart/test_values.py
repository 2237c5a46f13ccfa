"""values.yaml, values.schema.json and the README, and how values become the services' settings:
every variable the chart sets is one the service reads, and the services accept what the chart
renders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from chatbot_console.config import ConsoleSettings
from chatbot_conversation.config import ConversationSettings
from chatbot_ingress.config import IngressSettings
from chatbot_sender.config import SenderSettings
from hack import chart_readme

from . import helm

SETTINGS: dict[str, type[BaseSettings]] = {
    "ingress": IngressSettings,
    "conversation": ConversationSettings,
    "sender": SenderSettings,
    "console": ConsoleSettings,
}
# Free-form maps and lists in the schema: Kubernetes objects, label maps, the NATS chart's values.
FREE_FORM_OK = {"additionalProperties", "items"}
# Objects whose other fields are someone else's: a hosted tool is OpenAI's own `tools` entry,
# which the conversation service checks against the OpenAI SDK's types.
OPEN_OBJECTS = {"#/definitions/hostedTool"}


def test_every_key_is_commented_and_the_readme_is_current() -> None:
    text = (helm.CHART / "values.yaml").read_text()
    import yaml

    _, missing = chart_readme.parameters(yaml.safe_load(text), chart_readme.comments(text))
    assert missing == []
    current, fresh = chart_readme.rendered_readme()
    assert current == fresh, "charts/chatbot/README.md is stale: run `make chart-readme`"


def _objects(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            found.append((path, schema))
        for key, value in schema.items():
            if key == "properties":
                for name, sub in value.items():
                    found += _objects(sub, f"{path}.{name}")
            elif key in ("items", "additionalProperties"):
                found += _objects(value, f"{path}[{key}]")
    return found


def _resolved(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or the shared definition its ``$ref`` names."""
    ref = node.get("$ref")
    if ref is None:
        return node
    name = ref.removeprefix("#/definitions/")
    return _resolved(schema, schema["definitions"][name])


def test_schema_is_strict() -> None:
    """Every object with declared properties refuses others (shared definitions included),
    except the NATS chart's values."""
    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    found = _objects(schema)
    for name, definition in schema["definitions"].items():
        found += _objects(definition, f"#/definitions/{name}")
    for path, node in found:
        if "properties" in node and not path.startswith(".nats.config"):
            if path in OPEN_OBJECTS:
                continue
            assert node.get("additionalProperties") is False, path


def test_the_components_share_their_definitions() -> None:
    """What the components have in common is one definition each, not a copy each."""
    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    components = [schema["properties"][name]["properties"] for name in SETTINGS]
    shared = set.intersection(*(set(props) for props in components)) - {"settings", "service"}
    for key in sorted(shared):
        refs = {props[key].get("$ref") for props in components}
        assert len(refs) == 1, (key, refs)
        if "properties" in _resolved(schema, components[0][key]):
            assert refs != {None}, f"{key}: an object the components share, without a $ref"


def test_schema_covers_values_yaml_and_nothing_more() -> None:
    """The schema's properties are exactly values.yaml's parameters (the NATS chart's aside)."""
    import yaml

    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    text = (helm.CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    docs = chart_readme.comments(text)

    def compare(node: dict[str, Any], props: dict[str, Any], path: str) -> None:
        if path and not any(f"{path}.{child}" in docs for child in node):
            return  # one parameter (a free-form value): its keys are not the chart's
        declared = set(props.get("properties", {}))
        present = set(node)
        extra_allowed = {"global"} if path == "" else set()
        if path == "nats":
            extra_allowed = declared - {"enabled", "url", "streamReplicas", "auth"} - present
        assert present <= declared, (path, present - declared)
        assert declared - present <= extra_allowed, (path, declared - present)
        for key, value in node.items():
            sub = _resolved(schema, props["properties"][key])
            if isinstance(value, dict) and "properties" in sub:
                compare(value, sub, f"{path}.{key}".lstrip("."))

    compare(values, schema, "")


def _fails(charts: helm.ChartCopies, *sets: str, values: list[Path] | None = None) -> str:
    result = helm.template(
        "4",
        charts.offline,
        charts.home,
        values=values or [helm.scenario_file("default")],
        sets=list(sets),
        check=False,
    )
    assert result.returncode != 0, "expected the render to fail"
    return result.stderr


def test_secrets_are_required_unless_an_existing_secret_is_named(charts: helm.ChartCopies) -> None:
    error = _fails(charts, "nats.url=nats://nats:4222", values=[helm.CHART / "values.yaml"])
    assert "secrets.openaiApiKey is required" in error
    assert "existingSecret" in error
    error = _fails(charts, "secrets.userKeySecret=")
    assert "secrets.userKeySecret is required" in error


def test_existing_secret_renders_no_secret(charts: helm.ChartCopies) -> None:
    result = helm.template(
        "4",
        charts.offline,
        charts.home,
        values=[helm.scenario_file("default")],
        sets=[
            "secrets.existingSecret=creds",
            "secrets.openaiApiKey=",
            "secrets.existingSecretKeys.openaiApiKey=openai",
        ],
    )
    docs = helm.documents(result.stdout)
    assert helm.by_kind(docs, "Secret") == []
    refs = {
        (
            entry["name"],
            entry["valueFrom"]["secretKeyRef"]["name"],
            entry["valueFrom"]["secretKeyRef"]["key"],
        )
        for doc in docs
        if doc["kind"] in ("Deployment", "Pod")
        for container in helm.pod_spec(doc)["containers"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert ("OPENAI_API_KEY", "creds", "openai") in refs
    assert ("TWILIO_AUTH_TOKEN", "creds", "TWILIO_AUTH_TOKEN") in refs


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["unknownKey=1"], "unknownKey"),
        (["ingress.settings.maxBodyBytez=1"], "maxBodyBytez"),
        (["sender.image.tag=latest"], "latest"),
        (["image.tag=latest"], "latest"),
        (["config.drainTimeout=30"], "terminationGracePeriodSeconds"),
        (["ingress.preStopSleepSeconds=15"], "preStopSleepSeconds"),
        (["nats.url="], "nats.url"),
        (["nats.url=", "nats.enabled=true", "nats.streamReplicas=3"], "nats.streamReplicas"),
        (["nats.streamReplicas=7"], "streamReplicas"),
        (["config.logLevel=TRACE"], "logLevel"),
        (["conversation.settings.openaiBackend=assistants"], "openaiBackend"),
        (["ingress.autoscaling.minReplicas=5", "ingress.autoscaling.maxReplicas=3"], "minReplicas"),
        (["tests.route=/metrics"], "route"),
        (["conversation.tools.max_rounds=51"], "max_rounds"),
        (["conversation.tools.functions[0].name=a"], "url"),
        (["conversation.toolsSecret.values.A_KEY="], "A_KEY"),
    ],
)
def test_bad_values_fail_with_a_clear_message(
    charts: helm.ChartCopies, sets: list[str], message: str
) -> None:
    assert message in _fails(charts, *sets)


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_every_variable_is_a_setting_the_service_reads(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    for deployment in helm.by_kind(manifests[scenario], "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        fields = {name.upper() for name in SETTINGS[component].model_fields}
        env = helm.container_env(manifests[scenario], deployment)
        unknown = {name for name in env if name not in fields and not name.startswith("OTEL_")}
        assert unknown == set(), f"{component} does not read {sorted(unknown)}"


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_services_accept_the_rendered_settings(
    manifests: dict[str, list[helm.Doc]],
    scenario: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    docs = manifests[scenario]
    for deployment in helm.by_kind(docs, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        settings_class = SETTINGS[component]
        env = helm.container_env(docs, deployment)
        if "OPENAI_INSTRUCTIONS_FILE" in env:
            (configmap,) = [
                c
                for c in helm.by_kind(docs, "ConfigMap")
                if c["metadata"]["name"].endswith("-instructions")
            ]
            path = tmp_path / "instructions.txt"
            path.write_text(configmap["data"]["instructions.txt"])
            env["OPENAI_INSTRUCTIONS_FILE"] = str(path)
        if "TOOLS_FILE" in env:
            (configmap,) = [
                c
                for c in helm.by_kind(docs, "ConfigMap")
                if c["metadata"]["name"].endswith("-tools")
            ]
            path = tmp_path / "tools.yaml"
            path.write_text(configmap["data"]["tools.yaml"])
            env["TOOLS_FILE"] = str(path)
            env.update(helm.tools_env(docs, deployment))  # the headers' variables, from the Secret
        fields = {name.upper() for name in settings_class.model_fields}
        for name in list(os.environ):
            if name.upper() in fields:
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = settings_class()
        assert getattr(settings, "host") == "0.0.0.0"  # noqa: B009, S104 - inside the pod
        values = helm.chart_values(scenario)
        assert getattr(settings, "nats_replicas") == values["nats"]["streamReplicas"]  # noqa: B009
        monkeypatch.undo()
