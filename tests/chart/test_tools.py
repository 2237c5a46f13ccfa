"""conversation.tools and conversation.toolsSecret: the tools file in a ConfigMap mounted at
/etc/chatbot/tools (TOOLS_FILE), the headers' variables from a Secret (envFrom), checksums that
roll the pods on a change, and the checks that refuse what the service would refuse at start-up."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from chatbot_conversation.tools import catalog
from chatbot_conversation.tools.catalog import FunctionTool, Tools, load_tools

from . import helm

TOOLS: helm.Doc = {
    "functions": [
        {
            "name": "lookup_order",
            "description": "Look up an order by its number.",
            "parameters": {
                "type": "object",
                "properties": {"order": {"type": "string"}},
                "required": ["order"],
            },
            "url": "http://orders.shop.svc:8080/tools/lookup_order",
            "timeout": 2.5,
            "max_attempts": 3,
            "headers_from_env": {"Authorization": "ORDERS_TOOL_AUTH"},
            "include_phone": False,
        }
    ],
    "hosted": [{"type": "web_search"}],
    "max_rounds": 6,
    "max_output_chars": 8000,
    "turn_deadline": 90,
}
# What the ConfigMap holds: Helm's toYaml of conversation.tools (keys sorted).
TOOLS_YAML = """\
functions:
- description: Look up an order by its number.
  headers_from_env:
    Authorization: ORDERS_TOOL_AUTH
  include_phone: false
  max_attempts: 3
  name: lookup_order
  parameters:
    properties:
      order:
        type: string
    required:
    - order
    type: object
  timeout: 2.5
  url: http://orders.shop.svc:8080/tools/lookup_order
hosted:
- type: web_search
max_output_chars: 8000
max_rounds: 6
turn_deadline: 90
"""
MOUNT = {"name": "tools", "mountPath": "/etc/chatbot/tools", "readOnly": True}
OTHERS = ("chatbot-ingress", "chatbot-sender")


def rendered_with(
    charts: helm.ChartCopies, tmp_path: Path, conversation: helm.Doc, major: str = "4"
) -> list[helm.Doc]:
    """The default scenario with ``conversation`` values, rendered."""
    return helm.rendered(charts, tmp_path, {"conversation": conversation}, major=major)


def refused_with(
    charts: helm.ChartCopies, tmp_path: Path, conversation: helm.Doc, *sets: str
) -> str:
    """The error of the default scenario with ``conversation`` values."""
    return helm.refused(charts, tmp_path, {"conversation": conversation}, *sets)


def container(deployment: helm.Doc) -> helm.Doc:
    found: list[helm.Doc] = helm.pod_spec(deployment)["containers"]
    assert len(found) == 1
    return found[0]


def secret_refs(deployment: helm.Doc) -> list[str]:
    return [s["secretRef"]["name"] for s in container(deployment)["envFrom"] if "secretRef" in s]


def pod_annotations(deployment: helm.Doc) -> dict[str, str]:
    found: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return found


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
def test_the_tools_file_is_a_configmap_mounted_as_tools_file(
    charts: helm.ChartCopies, tmp_path: Path, major: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered_with(charts, tmp_path, {"tools": TOOLS}, major)
    configmap = helm.named(docs, "ConfigMap", "chatbot-conversation-tools")
    assert configmap["data"] == {"tools.yaml": TOOLS_YAML}
    assert yaml.safe_load(configmap["data"]["tools.yaml"]) == TOOLS
    assert configmap["metadata"]["labels"]["app.kubernetes.io/component"] == "conversation"

    settings = helm.named(docs, "ConfigMap", "chatbot-conversation")["data"]
    assert settings["TOOLS_FILE"] == "/etc/chatbot/tools/tools.yaml"
    deployment = helm.named(docs, "Deployment", "chatbot-conversation")
    assert MOUNT in container(deployment)["volumeMounts"]
    assert {"name": "tools", "configMap": {"name": "chatbot-conversation-tools"}} in helm.pod_spec(
        deployment
    )["volumes"]
    assert "checksum/tools" in pod_annotations(deployment)
    assert secret_refs(deployment) == []  # no toolsSecret: the variables come from elsewhere
    for name in OTHERS:
        other = helm.named(docs, "Deployment", name)
        assert "TOOLS_FILE" not in helm.named(docs, "ConfigMap", name)["data"]
        assert "tools" not in [v["name"] for v in helm.pod_spec(other)["volumes"]]
        assert "checksum/tools" not in pod_annotations(other)

    # The service takes the file as the chart writes it.
    path = tmp_path / "tools.yaml"
    path.write_text(configmap["data"]["tools.yaml"])
    monkeypatch.setenv("ORDERS_TOOL_AUTH", "Bearer test")
    tools = load_tools(path)
    assert [f.name for f in tools.functions] == ["lookup_order"]
    assert tools.functions[0].headers == {"Authorization": "Bearer test"}


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
def test_tools_secret_values_become_a_secret_loaded_whole(
    charts: helm.ChartCopies, tmp_path: Path, major: str
) -> None:
    values = {"ORDERS_TOOL_AUTH": "Bearer s3cret", "CRM_MCP_AUTH": "Bearer crm"}
    docs = rendered_with(
        charts, tmp_path, {"tools": TOOLS, "toolsSecret": {"values": values}}, major
    )
    secret = helm.named(docs, "Secret", "chatbot-conversation-tools")
    assert secret["type"] == "Opaque"
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == values
    deployment = helm.named(docs, "Deployment", "chatbot-conversation")
    assert container(deployment)["envFrom"] == [
        {"configMapRef": {"name": "chatbot-conversation"}},
        {"secretRef": {"name": "chatbot-conversation-tools"}},
    ]
    assert "checksum/tools-secret" in pod_annotations(deployment)
    for name in OTHERS:
        assert secret_refs(helm.named(docs, "Deployment", name)) == []


def test_tools_secret_existing_secret_is_loaded_and_not_rendered(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    docs = rendered_with(
        charts, tmp_path, {"tools": TOOLS, "toolsSecret": {"existingSecret": "orders-tool"}}
    )
    assert not [s for s in helm.by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-tools")]
    deployment = helm.named(docs, "Deployment", "chatbot-conversation")
    assert secret_refs(deployment) == ["orders-tool"]
    assert "checksum/tools-secret" not in pod_annotations(deployment)


def test_both_tools_secrets_are_refused(charts: helm.ChartCopies, tmp_path: Path) -> None:
    error = refused_with(
        charts,
        tmp_path,
        {
            "tools": TOOLS,
            "toolsSecret": {"existingSecret": "orders-tool", "values": {"ORDERS_TOOL_AUTH": "x"}},
        },
    )
    assert "conversation.toolsSecret: set existingSecret" in error
    assert "not both" in error


def test_a_change_rolls_the_conversation_pods_only(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    def snapshot(tools: helm.Doc, secret: str) -> dict[str, dict[str, str]]:
        values = {"tools": tools, "toolsSecret": {"values": {"ORDERS_TOOL_AUTH": secret}}}
        docs = rendered_with(charts, tmp_path, values)
        return {d["metadata"]["name"]: pod_annotations(d) for d in helm.by_kind(docs, "Deployment")}

    before = snapshot(TOOLS, "a")
    tools_changed = snapshot({**TOOLS, "max_rounds": 7}, "a")
    secret_changed = snapshot(TOOLS, "b")
    conversation = "chatbot-conversation"
    assert tools_changed[conversation]["checksum/tools"] != before[conversation]["checksum/tools"]
    assert (
        secret_changed[conversation]["checksum/tools-secret"]
        != before[conversation]["checksum/tools-secret"]
    )
    assert secret_changed[conversation]["checksum/tools"] == before[conversation]["checksum/tools"]
    for name in OTHERS:
        assert before[name] == tools_changed[name] == secret_changed[name]


@pytest.mark.parametrize(
    "scenario",
    [s for s in helm.SCENARIOS if not helm.chart_values(s)["conversation"]["tools"]],
)
def test_no_tools_no_tools_objects(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    docs = manifests[scenario]
    assert not [
        d
        for d in docs
        if d["kind"] in ("ConfigMap", "Secret") and d["metadata"]["name"].endswith("-tools")
    ]
    for configmap in helm.by_kind(docs, "ConfigMap"):
        assert "TOOLS_FILE" not in configmap.get("data", {})
    for deployment in helm.by_kind(docs, "Deployment"):
        assert "tools" not in [v["name"] for v in helm.pod_spec(deployment)["volumes"]]
        assert secret_refs(deployment) == []
        assert not [key for key in pod_annotations(deployment) if key.startswith("checksum/tools")]


def test_the_defaults_have_no_tools() -> None:
    conversation = helm.chart_values()["conversation"]
    assert conversation["tools"] == {}
    assert conversation["toolsSecret"] == {"existingSecret": "", "values": {}}


def test_production_allows_its_in_cluster_tool_endpoints(
    manifests: dict[str, list[helm.Doc]],
) -> None:
    """The example tool endpoint runs in the cluster, so the scenario allows its egress."""
    values = helm.chart_values("production")
    docs = manifests["production"]
    policy = helm.named(docs, "NetworkPolicy", "chatbot-conversation")
    ports = {port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])}
    urls = [urlsplit(f["url"]) for f in values["conversation"]["tools"]["functions"]]
    in_cluster = [url for url in urls if str(url.hostname).endswith(".svc")]
    assert in_cluster
    for url in in_cluster:
        assert url.port in ports, url.geturl()


@pytest.mark.parametrize(
    ("conversation", "sets", "message"),
    [
        ({"tools": {"functions": [{"name": "a"}]}}, [], "url"),
        ({"tools": {"functions": [{"name": "a b", "url": "http://x"}]}}, [], "name"),
        ({"tools": {"functions": [{"name": "a", "url": "ftp://x"}]}}, [], "url"),
        ({"tools": {"functions": [{"name": "a", "url": "http://x", "retries": 2}]}}, [], "retries"),
        ({"tools": {"functions": [{"name": "a", "url": "http://x", "timeout": 0}]}}, [], "timeout"),
        (
            {"tools": {"functions": [{"name": "a", "url": "http://x", "max_attempts": 11}]}},
            [],
            "max_attempts",
        ),
        (
            {"tools": {"functions": [{"name": "handoff_to_human", "url": "http://x"}]}},
            [],
            "handoff_to_human is the service's own tool",
        ),
        (
            {
                "tools": {
                    "functions": [
                        {"name": "a", "url": "http://x"},
                        {"name": "a", "url": "http://y"},
                    ]
                }
            },
            [],
            "names must be unique",
        ),
        (
            {
                "tools": {
                    "functions": [
                        {"name": "a", "url": "http://x", "headers_from_env": {"Auth": "1X"}}
                    ]
                }
            },
            [],
            "headers_from_env",
        ),
        ({"tools": {"hosted": [{"name": "web"}]}}, [], "type"),
        ({"tools": {"hosted": [{"type": "image_generation"}]}}, [], "type"),
        ({"tools": {"hosted": [{"type": "mcp", "server_label": "crm"}]}}, [], "require_approval"),
        (
            {"tools": {"hosted": [{"type": "web_search", "headers_from_env": {"A": "B"}}]}},
            [],
            "only an mcp tool sends headers",
        ),
        (
            {"tools": {"hosted": [{"type": "web_search"}]}},
            ["conversation.settings.openaiBackend=chat"],
            "hosted tools run only with the Responses API",
        ),
        (
            {"tools": {"hosted": [{"type": "web_search"}]}},
            ["conversation.env.OPENAI_BACKEND=chat"],
            "hosted tools run only with the Responses API",
        ),
        ({"tools": {"max_rounds": 0}}, [], "max_rounds"),
        ({"tools": {"max_output_chars": 100001}}, [], "max_output_chars"),
        ({"tools": {"turn_deadline": 901}}, [], "turn_deadline"),
        ({"tools": {"functions": [], "extra": 1}}, [], "extra"),
        ({"toolsSecret": {"values": {"ORDERS_TOOL_AUTH": ""}}}, [], "ORDERS_TOOL_AUTH"),
        ({"toolsSecret": {"values": {"1BAD": "x"}}}, [], "1BAD"),
        ({"toolsSecret": {"name": "x"}}, [], "name"),
    ],
)
def test_values_the_service_would_refuse_are_refused(
    charts: helm.ChartCopies, tmp_path: Path, conversation: helm.Doc, sets: list[str], message: str
) -> None:
    assert message in refused_with(charts, tmp_path, conversation, *sets)


def test_the_schema_follows_the_tools_file() -> None:
    """values.schema.json's tools are the service's: the same fields, the same required ones,
    the same hosted types (a new field or type in the service needs one in the chart)."""
    definitions = json.loads((helm.CHART / "values.schema.json").read_text())["definitions"]
    assert set(definitions["tools"]["properties"]) == set(Tools.model_fields)
    function = definitions["toolFunction"]
    assert set(function["properties"]) == set(FunctionTool.model_fields)
    required = {name for name, field in FunctionTool.model_fields.items() if field.is_required()}
    assert set(function["required"]) == required
    hosted_types = definitions["hostedTool"]["properties"]["type"]["enum"]
    assert set(hosted_types) == set(catalog._HOSTED)  # the service's own list
