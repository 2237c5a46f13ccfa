"""The operators' console (console.*): its Deployment running chatbot-console with its settings
and credentials, its ClusterIP Service, its NetworkPolicy, its ServiceMonitor, and its own
Ingress, off by default and never the public one's. "Operator surfaces are never on the public
door": in every scenario no path of the public (webhook) Ingress reaches the console.
"""

from __future__ import annotations

import base64
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Mount

from chatbot_console.app import create_app
from chatbot_console.config import ConsoleSettings

from . import helm
from .test_images import dockerfile_stages

COMPONENT = "app.kubernetes.io/component"
NAME = "chatbot-console"
TOKEN = "test-console-token-0123456789abcdef"  # ci/default-values.yaml's
# The console Ingress of ci/console-ingress-values.yaml, as values over the default scenario.
CONSOLE_INGRESS: helm.Doc = {
    "enabled": True,
    "className": "nginx",
    "annotations": {
        "nginx.ingress.kubernetes.io/auth-url": "https://$host/oauth2/auth",
        "nginx.ingress.kubernetes.io/auth-signin": (
            "https://$host/oauth2/start?rd=$escaped_request_uri"
        ),
    },
    "hosts": [{"host": "console.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
    "tls": [{"secretName": "console-tls", "hosts": ["console.example.com"]}],
}
PUBLIC_INGRESS: helm.Doc = {
    "enabled": True,
    "hosts": [{"host": "chat.example.com", "paths": [{"path": "/twilio/", "pathType": "Prefix"}]}],
    "tls": [{"secretName": "chatbot-tls", "hosts": ["chat.example.com"]}],
}
HEALTH = ("/healthz", "/readyz", "/metrics")
INSIDE = (*HEALTH, "/openapi.json")
"""The console's routes that stay inside the cluster: health, metrics, the API's schema."""


def component_of(doc: helm.Doc) -> str:
    return str(doc["metadata"].get("labels", {}).get(COMPONENT, ""))


def of_console(docs: list[helm.Doc]) -> list[helm.Doc]:
    return [d for d in docs if component_of(d) == "console"]


def the(docs: list[helm.Doc], kind: str, component: str = "console") -> helm.Doc:
    """The one object of a kind a component has (whatever fullnameOverride names it)."""
    (found,) = [d for d in helm.by_kind(docs, kind) if component_of(d) == component]
    return found


def console_env(docs: list[helm.Doc]) -> dict[str, str]:
    return helm.container_env(docs, helm.named(docs, "Deployment", NAME))


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ConsoleSettings:
    fields = {name.upper() for name in ConsoleSettings.model_fields}
    for name in list(os.environ):
        if name.upper() in fields:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ConsoleSettings()


def secret_refs(deployment: helm.Doc) -> dict[str, dict[str, str]]:
    (container,) = helm.pod_spec(deployment)["containers"]
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def routes_to_console(ingress: helm.Doc) -> list[str]:
    """The paths of an Ingress whose backend is the console's Service."""
    return [
        f"{rule.get('host')}{path['path']}"
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path["backend"]["service"]["name"] == NAME
    ]


# The Deployment: chatbot-console, its settings and its credentials.


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_every_scenario_deploys_the_console(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    """On by default, and in every scenario: a Deployment, its ConfigMap, a Service."""
    docs = manifests[scenario]
    assert helm.chart_values(scenario)["console"]["enabled"] is True
    kinds = {d["kind"] for d in of_console(docs)}
    assert {"Deployment", "ConfigMap", "Service"} <= kinds
    # The ServiceAccount, pod security context and pull secrets every component has.
    console = helm.pod_spec(the(docs, "Deployment"))
    reference = helm.pod_spec(the(docs, "Deployment", "ingress"))
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext"):
        assert console[key] == reference[key], key
    assert console.get("imagePullSecrets") == reference.get("imagePullSecrets")


def test_the_deployment_runs_chatbot_console(
    manifests: dict[str, list[helm.Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's image (its entry point is chatbot-console, as each image's is its
    service's), no command of the chart's own, port 8083 named http, probed on the health
    endpoints like the others."""
    docs = manifests["default"]
    deployment = helm.named(docs, "Deployment", NAME)
    assert deployment["spec"]["replicas"] == 1
    (container,) = helm.pod_spec(deployment)["containers"]
    assert container["name"] == "console"
    assert container["image"] == "chatbot-console:" + chart_version()
    assert "command" not in container
    assert "args" not in container
    assert container["ports"] == [{"name": "http", "containerPort": 8083, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["securityContext"] == helm.chart_values()["securityContext"]
    # The entry point the image runs is the console package's script.
    project = tomllib.loads((helm.ROOT / "services" / "console" / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["chatbot-console"] == "chatbot_console.main:main"
    # The settings the service takes from what the chart renders.
    settings = settings_from(console_env(docs), monkeypatch)
    assert settings.port == 8083
    assert settings.host == "0.0.0.0"  # noqa: S104 - inside the pod
    assert settings.console_token.get_secret_value() == TOKEN
    assert settings.user_key_secret.get_secret_value() == "test-user-key-secret"
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-test-openai-key"
    assert settings.console_secure_cookies is True
    assert settings.console_login_attempts == 5
    assert settings.nats_url == "nats://nats.nats.svc:4222"


def chart_version() -> str:
    import yaml

    return str(yaml.safe_load((helm.CHART / "Chart.yaml").read_text())["appVersion"])


def test_the_console_gets_only_its_credentials(manifests: dict[str, list[helm.Doc]]) -> None:
    """CONSOLE_TOKEN, USER_KEY_SECRET and OPENAI_API_KEY from the credentials Secret; no Twilio
    credential; and no other component gets the token."""
    docs = manifests["default"]
    refs = secret_refs(helm.named(docs, "Deployment", NAME))
    assert refs == {
        var: {"name": "chatbot", "key": var}
        for var in ("OPENAI_API_KEY", "USER_KEY_SECRET", "CONSOLE_TOKEN")
    }
    secret = helm.named(docs, "Secret", "chatbot")
    assert base64.b64decode(secret["data"]["CONSOLE_TOKEN"]).decode() == TOKEN
    for deployment in helm.by_kind(docs, "Deployment"):
        if component_of(deployment) != "console":
            assert "CONSOLE_TOKEN" not in secret_refs(deployment), component_of(deployment)


def test_the_console_reads_templates_only_when_given_twilio_credentials(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    credentials = ["openaiApiKey", "userKeySecret", "consoleToken"]
    given = {"console": {"credentials": [*credentials, "twilioAccountSid", "twilioAuthToken"]}}
    refs = secret_refs(helm.named(helm.rendered(charts, tmp_path, given), "Deployment", NAME))
    assert {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"} <= set(refs)
    with_console_settings = {"console": {"settings": {"twilioWhatsappFrom": "whatsapp:+1415"}}}
    env = console_env(helm.rendered(charts, tmp_path, with_console_settings))
    assert env["TWILIO_WHATSAPP_FROM"] == "whatsapp:+1415"


def test_settings_reach_the_console(
    charts: helm.ChartCopies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {
        "console": {
            "settings": {
                "consoleBusinessNumbers": ["whatsapp:+14155238886", "whatsapp:+14155238887"],
                "openaiBaseUrl": "https://llm.example.net/v1",
                "consoleSecureCookies": False,
                "consoleLoginAttempts": 3,
            },
            "env": {"NATS_PUBLISH_TIMEOUT": 7},
        },
        "env": {"NATS_CONNECT_TIMEOUT": 30},
    }
    docs = helm.rendered(charts, tmp_path, values)
    env = console_env(docs)
    assert env["CONSOLE_BUSINESS_NUMBERS"] == "whatsapp:+14155238886,whatsapp:+14155238887"
    settings = settings_from(env, monkeypatch)
    assert settings.business_numbers == ("whatsapp:+14155238886", "whatsapp:+14155238887")
    assert settings.openai_base_url == "https://llm.example.net/v1"
    assert settings.console_secure_cookies is False
    assert settings.console_login_attempts == 3
    assert settings.nats_publish_timeout == 7
    assert settings.nats_connect_timeout == 30
    # Empty values leave the service's defaults.
    default = console_env(helm.rendered(charts, tmp_path, {}))
    assert "CONSOLE_BUSINESS_NUMBERS" not in default
    assert "OPENAI_BASE_URL" not in default


def test_an_existing_secret_gives_the_token_under_its_key(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    values = {
        "secrets": {
            "existingSecret": "creds",
            "existingSecretKeys": {"consoleToken": "console-token"},
            "consoleToken": "",
        }
    }
    docs = helm.rendered(charts, tmp_path, values)
    assert helm.by_kind(docs, "Secret") == []
    refs = secret_refs(helm.named(docs, "Deployment", NAME))
    assert refs["CONSOLE_TOKEN"] == {"name": "creds", "key": "console-token"}
    assert refs["USER_KEY_SECRET"] == {"name": "creds", "key": "USER_KEY_SECRET"}


def test_a_new_token_rolls_the_console(charts: helm.ChartCopies, tmp_path: Path) -> None:
    def checksum(token: str) -> str:
        docs = helm.rendered(charts, tmp_path, {"secrets": {"consoleToken": token}})
        annotations = helm.named(docs, "Deployment", NAME)["spec"]["template"]["metadata"]
        return str(annotations["annotations"]["checksum/secret"])

    assert checksum("a" * 32) != checksum("b" * 32)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"secrets": {"consoleToken": ""}}, "secrets.consoleToken is required"),
        ({"secrets": {"consoleToken": "x" * 31}}, "secrets.consoleToken: at least 32 characters"),
        ({"console": {"service": {"type": "LoadBalancer"}}}, "type"),
        ({"console": {"public": True}}, "public"),
        ({"console": {"settings": {"consoleBusinessNumbers": ["+14155238886"]}}}, "consoleBusin"),
        ({"console": {"settings": {"consoleLoginAttempts": 0}}}, "consoleLoginAttempts"),
        ({"console": {"settings": {"openaiBaseUrl": "llm.example.net"}}}, "openaiBaseUrl"),
        ({"console": {"settings": {"consoleToken": TOKEN}}}, "consoleToken"),
        ({"console": {"networkPolicy": {"ingressFrom": []}}}, "ingressFrom"),
    ],
)
def test_a_console_the_service_could_not_use_is_refused(
    charts: helm.ChartCopies, tmp_path: Path, values: helm.Doc, message: str
) -> None:
    assert message in helm.refused(charts, tmp_path, values)


def test_an_existing_secret_needs_no_inline_token(charts: helm.ChartCopies, tmp_path: Path) -> None:
    """The chart cannot read a Secret you manage: the token's length is the service's check."""
    docs = helm.rendered(
        charts, tmp_path, {"secrets": {"existingSecret": "creds", "consoleToken": ""}}
    )
    assert helm.named(docs, "Deployment", NAME)


# Disabled: nothing of it.


def test_disabled_renders_nothing_of_the_console(charts: helm.ChartCopies, tmp_path: Path) -> None:
    values = {
        "console": {"enabled": False, "ingress": CONSOLE_INGRESS},
        "secrets": {"consoleToken": ""},  # not required then
        "metrics": {"serviceMonitor": {"enabled": True}},
    }
    docs = helm.rendered(charts, tmp_path, values)
    assert of_console(docs) == []
    assert not [d for d in docs if "console" in d["metadata"]["name"]]
    assert "CONSOLE_TOKEN" not in helm.named(docs, "Secret", "chatbot")["data"]
    for deployment in helm.by_kind(docs, "Deployment"):
        assert "CONSOLE_TOKEN" not in helm.container_env(docs, deployment)
    # A token given anyway stays out of the Secret.
    values["secrets"] = {"consoleToken": TOKEN}
    docs = helm.rendered(charts, tmp_path, values)
    assert "CONSOLE_TOKEN" not in helm.named(docs, "Secret", "chatbot")["data"]
    assert of_console(docs) == []


# The Service, the ServiceMonitor.


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_the_service_is_cluster_ip(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    docs = manifests[scenario]
    service = the(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port == {
        "name": "http",
        "port": helm.chart_values(scenario)["console"]["service"]["port"],
        "targetPort": "http",
        "protocol": "TCP",
    }
    assert "nodePort" not in port
    selector = service["spec"]["selector"]
    template_labels = the(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    assert selector[COMPONENT] == "console"


def test_the_console_is_scraped_like_the_others(manifests: dict[str, list[helm.Doc]]) -> None:
    for scenario in ("production", "console-ingress"):
        docs = manifests[scenario]
        monitor = helm.named(docs, "ServiceMonitor", NAME)
        assert monitor["spec"]["selector"]["matchLabels"][COMPONENT] == "console"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert helm.by_kind(manifests["default"], "ServiceMonitor") == []


# The NetworkPolicy.


def console_policy(docs: list[helm.Doc]) -> helm.Doc:
    spec: helm.Doc = helm.named(docs, "NetworkPolicy", NAME)["spec"]
    return spec


def egress_ports(spec: helm.Doc) -> dict[Any, list[helm.Doc]]:
    found: dict[Any, list[helm.Doc]] = {}
    for rule in spec["egress"]:
        for port in rule.get("ports", []):
            found.setdefault(port["port"], []).extend(rule.get("to", []))
    return found


def test_the_network_policy_admits_the_release_namespace_and_prometheus(
    manifests: dict[str, list[helm.Doc]],
) -> None:
    spec = console_policy(manifests["default"])
    assert spec["podSelector"]["matchLabels"][COMPONENT] == "console"
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == [
        {"podSelector": {}},  # the release's namespace
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]
    # Not the workers' metricsFrom, which admits the whole cluster by default.
    assert {"namespaceSelector": {}} not in rule["from"]
    # Out: DNS, NATS, and OpenAI on 443 (transcripts), as conversation.
    values = helm.chart_values("default")
    ports = egress_ports(spec)
    assert set(ports) == {53, *values["networkPolicy"]["natsPorts"], 443}
    assert ports[443] == values["networkPolicy"]["internetTo"]


def test_the_network_policy_admits_the_peers_named(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    operators = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}
    scraper = {"podSelector": {"matchLabels": {"app": "vmagent"}}}
    docs = helm.rendered(
        charts,
        tmp_path,
        {"console": {"networkPolicy": {"from": [operators], "metricsFrom": [scraper]}}},
    )
    (rule,) = console_policy(docs)["ingress"]
    assert rule["from"] == [operators, scraper]
    # Only metrics scrapes: still those peers only.
    docs = helm.rendered(charts, tmp_path, {"console": {"networkPolicy": {"from": []}}})
    (rule,) = console_policy(docs)["ingress"]
    assert rule["from"] == helm.chart_values()["console"]["networkPolicy"]["metricsFrom"]
    # Nobody: no rule that would admit every source.
    docs = helm.rendered(
        charts, tmp_path, {"console": {"networkPolicy": {"from": [], "metricsFrom": []}}}
    )
    assert console_policy(docs)["ingress"] == []
    # The others keep theirs.
    (worker,) = helm.named(docs, "NetworkPolicy", "chatbot-sender")["spec"]["ingress"]
    assert worker["from"] == helm.chart_values()["networkPolicy"]["metricsFrom"]


def test_the_network_policy_follows_network_policy_enabled(
    manifests: dict[str, list[helm.Doc]],
) -> None:
    assert helm.chart_values("minimal")["networkPolicy"]["enabled"] is False
    assert helm.by_kind(manifests["minimal"], "NetworkPolicy") == []
    assert helm.named(manifests["production"], "NetworkPolicy", NAME)


# The console's own Ingress, and the public one.


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_no_public_ingress_routes_to_the_console(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    """Every Ingress of a public component (the webhooks') routes to its own Service only; the
    only Ingress that reaches the console is the console's own, on none of the public hosts."""
    values = helm.chart_values(scenario)
    ingresses = helm.by_kind(manifests[scenario], "Ingress")
    public = [i for i in ingresses if values[component_of(i)].get("public")]
    if values["ingress"]["ingress"]["enabled"]:
        assert public
    public_hosts = {rule.get("host") for i in public for rule in i["spec"]["rules"]}
    for ingress in public:
        assert routes_to_console(ingress) == [], ingress["metadata"]["name"]
        backends = {
            path["backend"]["service"]["name"]
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
        assert backends == {ingress["metadata"]["name"]}
    for ingress in ingresses:
        if routes_to_console(ingress):
            assert component_of(ingress) == "console"
            assert ingress["metadata"]["name"] == NAME
            assert not {rule.get("host") for rule in ingress["spec"]["rules"]} & public_hosts


@pytest.mark.parametrize("scenario", [s for s in helm.SCENARIOS if s != "console-ingress"])
def test_the_console_ingress_is_off_by_default(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    assert helm.chart_values(scenario)["console"]["ingress"]["enabled"] is False
    assert [
        i for i in helm.by_kind(manifests[scenario], "Ingress") if component_of(i) == "console"
    ] == []


def test_the_console_ingress_is_separate_and_behind_the_sso(
    manifests: dict[str, list[helm.Doc]],
) -> None:
    docs = manifests["console-ingress"]
    values = helm.chart_values("console-ingress")["console"]["ingress"]
    ingresses = {i["metadata"]["name"]: i for i in helm.by_kind(docs, "Ingress")}
    assert set(ingresses) == {"chatbot-ingress", NAME}
    console = ingresses[NAME]
    assert console["metadata"]["annotations"] == values["annotations"]
    assert "nginx.ingress.kubernetes.io/auth-url" in console["metadata"]["annotations"]
    assert "nginx.ingress.kubernetes.io/auth-signin" in console["metadata"]["annotations"]
    assert console["spec"]["ingressClassName"] == "nginx"
    assert console["spec"]["tls"] == values["tls"]
    (rule,) = console["spec"]["rules"]
    assert rule["host"] == "console.example.com"
    assert len(routes_to_console(console)) == len(rule["http"]["paths"])
    assert [p["backend"]["service"]["port"] for p in rule["http"]["paths"]] == [
        {"name": "http"}
    ] * len(rule["http"]["paths"])
    # The public one's annotations are not the console's, and it has no console path.
    public = ingresses["chatbot-ingress"]
    assert "nginx.ingress.kubernetes.io/auth-url" not in public["metadata"].get("annotations", {})
    assert routes_to_console(public) == []
    # The console's NetworkPolicy admits the Ingress controller.
    (admitted,) = console_policy(docs)["ingress"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    } in admitted["from"]


def test_the_console_ingress_renders_only_when_enabled(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    values = {"console": {"ingress": {**CONSOLE_INGRESS, "enabled": False}}}
    docs = helm.rendered(charts, tmp_path, values)
    assert helm.by_kind(docs, "Ingress") == []
    values = {"console": {"ingress": CONSOLE_INGRESS}}
    (ingress,) = helm.by_kind(helm.rendered(charts, tmp_path, values), "Ingress")
    assert ingress["metadata"]["name"] == NAME
    assert routes_to_console(ingress) == ["console.example.com/"]
    # With the public one on too: two Ingresses, each to its own Service.
    values = {"console": {"ingress": CONSOLE_INGRESS}, "ingress": {"ingress": PUBLIC_INGRESS}}
    found = {
        i["metadata"]["name"]: i
        for i in helm.by_kind(helm.rendered(charts, tmp_path, values), "Ingress")
    }
    assert set(found) == {"chatbot-ingress", NAME}
    assert routes_to_console(found["chatbot-ingress"]) == []


@pytest.mark.parametrize(
    ("values", "host"),
    [
        # A host of the public Ingress.
        ({"ingress": {"ingress": PUBLIC_INGRESS}}, "chat.example.com"),
        # publicBaseUrl's host (ci/default-values.yaml: https://chatbot.example.com).
        ({}, "chatbot.example.com"),
    ],
    ids=["ingress-host", "public-base-url"],
)
def test_the_console_ingress_is_never_on_the_public_door(
    charts: helm.ChartCopies, tmp_path: Path, values: helm.Doc, host: str
) -> None:
    """An Ingress controller serves every Ingress of one host together: the console on a public
    host would be a path of the public door, so the chart refuses it."""
    rule = {**CONSOLE_INGRESS["hosts"][0], "host": host}
    console = {"console": {"ingress": {**CONSOLE_INGRESS, "hosts": [rule]}}}
    error = helm.refused(charts, tmp_path, {**values, **console})
    assert f"console.ingress.hosts: {host} is a host of the public webhook door" in error


def _k8s_matches(ingress_path: helm.Doc, request: str) -> bool:
    """Whether a Kubernetes Ingress path matches a request path (Exact, or Prefix by path
    elements)."""
    path = str(ingress_path["path"])
    if ingress_path.get("pathType", "Prefix") == "Exact":
        return request == path
    prefix = [part for part in path.split("/") if part]
    parts = [part for part in request.split("/") if part]
    return parts[: len(prefix)] == prefix


def _paths(routes: list[Any], prefix: str = "") -> list[str]:
    paths = []
    for route in routes:
        included = getattr(route, "original_router", None)  # an included router, unflattened
        if included is not None:
            context = getattr(route, "include_context", None)
            paths += _paths(included.routes, prefix + str(getattr(context, "prefix", "")))
        elif isinstance(route, Mount):
            paths.append(f"{prefix}{route.path}/console.css")  # a file under the mount
        else:
            paths.append(prefix + str(route.path))
    return paths


def console_routes() -> list[str]:
    """A request path for each route of the console app."""
    settings = ConsoleSettings(console_token=TOKEN, user_key_secret="k")
    return [re.sub(r"\{[^}]+\}", "x", path) for path in _paths(create_app(settings).routes)]


def test_the_default_paths_are_the_pages_and_the_apis_only() -> None:
    """console.ingress's default paths reach every route of the console's page and API, and
    none of /metrics and the health endpoints."""
    (host,) = helm.chart_values()["console"]["ingress"]["hosts"]
    routes = console_routes()
    assert set(HEALTH) | {"/", "/login", "/static/console.css", "/api/users"} <= set(routes)
    for route in routes:
        reached = any(_k8s_matches(path, route) for path in host["paths"])
        assert reached == (route not in INSIDE), route


# The console's image, built outside the chart like the others'.


def test_the_dockerfile_builds_the_console_image() -> None:
    stages = dockerfile_stages()
    final = dict(stages["console"].instructions)
    assert stages["console"].parent == "runtime"
    assert final["ENTRYPOINT"] == '["chatbot-console"]'


def test_skaffold_builds_the_console_image() -> None:
    skaffold = yaml.safe_load((helm.ROOT / "skaffold.yaml").read_text())
    artifacts = {a["image"] for a in skaffold["build"]["artifacts"]}
    assert "chatbot-console" in artifacts
    (release,) = skaffold["deploy"]["helm"]["releases"]
    assert "console.image.repository" in release["setValueTemplates"]


def test_the_overview_watches_the_conversation_s_models() -> None:
    values = helm.chart_values()
    for name in ("openaiModel", "openaiTranscriptionModel"):
        assert values["console"]["settings"][name] == values["conversation"]["settings"][name]
