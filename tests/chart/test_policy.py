"""Policies every rendered scenario must meet: hardened, sized and probed containers, pinned
images, the standard labels, no empty Secret, the network and availability objects that the
values ask for, and references between objects that resolve."""

from __future__ import annotations

import base64

import pytest

from . import helm

WORKLOAD_KINDS = ("Deployment", "Pod")
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
)
COMPONENT = "app.kubernetes.io/component"

pytestmark = pytest.mark.parametrize("scenario", helm.SCENARIOS)


def ours(docs: list[helm.Doc]) -> list[helm.Doc]:
    """The chart's own resources (not the NATS dependency's)."""
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of")]


def workloads(docs: list[helm.Doc]) -> list[helm.Doc]:
    return [d for d in ours(docs) if d["kind"] in WORKLOAD_KINDS]


def component_of(doc: helm.Doc) -> str:
    return str(doc["metadata"]["labels"][COMPONENT])


def deployments(docs: list[helm.Doc], scenario: str) -> dict[str, helm.Doc]:
    found = {component_of(d): d for d in helm.by_kind(ours(docs), "Deployment")}
    assert sorted(found) == sorted(helm.deployed(helm.chart_values(scenario)))
    return found


def containers(doc: helm.Doc) -> list[helm.Doc]:
    spec = helm.pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_every_container_is_non_root_and_locked_down(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    for doc in workloads(manifests[scenario]):
        spec = helm.pod_spec(doc)
        pod = spec.get("securityContext", {})
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", doc["metadata"]
        assert spec.get("automountServiceAccountToken") is False
        assert not spec.get("hostNetwork")
        assert not spec.get("hostPID")
        for container in containers(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            sc = container.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            assert sc.get("runAsUser", pod.get("runAsUser", 0)) != 0, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged", False) is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            assert sc.get("seccompProfile", pod.get("seccompProfile"))["type"] == "RuntimeDefault"


def test_every_container_has_resources(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    for doc in workloads(manifests[scenario]):
        for container in containers(doc):
            resources = container.get("resources", {})
            where = f"{doc['metadata']['name']}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where


def test_every_service_container_has_probes_on_the_health_endpoints(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    for component, deployment in deployments(manifests[scenario], scenario).items():
        (container,) = helm.pod_spec(deployment)["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        port = {"ingress": 8080, "conversation": 8081, "sender": 8082, "console": 8083}[component]
        assert ports == {"http": port}
        expected = {
            "startupProbe": "/healthz",
            "livenessProbe": "/healthz",
            "readinessProbe": "/readyz",
        }
        for probe, path in expected.items():
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, (component, probe)


def test_no_latest_or_untagged_image(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    for doc in workloads(manifests[scenario]):
        for container in containers(doc):
            image = container["image"]
            name, _, tag = image.split("@")[0].rpartition(":")
            assert name, f"{image} has no tag"
            assert "/" not in tag, f"{image} has no tag"
            assert tag != "latest", image
            assert container.get("imagePullPolicy") in ("IfNotPresent", "Always", "Never")


def test_standard_labels_everywhere(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    docs = ours(manifests[scenario])
    assert docs
    for doc in docs:
        labels = doc["metadata"]["labels"]
        for label in STANDARD_LABELS:
            assert labels.get(label), f"{doc['kind']}/{doc['metadata']['name']} lacks {label}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    for deployment in deployments(manifests[scenario], scenario).values():
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        for label in (*STANDARD_LABELS, COMPONENT):
            assert template_labels.get(label), label
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template_labels.items()
        assert set(selector) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            COMPONENT,
        }


def test_no_secret_with_empty_values(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    for secret in helm.by_kind(manifests[scenario], "Secret"):
        values = {**secret.get("data", {}), **secret.get("stringData", {})}
        assert values, secret["metadata"]["name"]
        for key, value in secret.get("data", {}).items():
            assert value, key
            assert base64.b64decode(value).strip(), key
        for key, value in secret.get("stringData", {}).items():
            assert str(value).strip(), key


def test_network_policy_per_component_when_enabled(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    values = helm.chart_values(scenario)
    policies = {component_of(p): p for p in helm.by_kind(manifests[scenario], "NetworkPolicy")}
    if not values["networkPolicy"]["enabled"]:
        assert policies == {}
        return
    assert sorted(policies) == sorted(helm.deployed(values))
    for component, policy in policies.items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        assert spec["podSelector"]["matchLabels"][COMPONENT] == component
        # Every component reaches NATS.
        nats_ports = {
            port["port"]
            for rule in spec["egress"]
            for port in rule.get("ports", [])
            if port["port"] in values["networkPolicy"]["natsPorts"]
        }
        assert nats_ports == set(values["networkPolicy"]["natsPorts"]), component
        egress_443 = any(p["port"] == 443 for rule in spec["egress"] for p in rule.get("ports", []))
        # Only the workers and the console reach the internet (OpenAI, Twilio); ingress only
        # answers.
        assert egress_443 == (component != "ingress"), component
        # Only ingress takes traffic from anywhere: the console admits its own peers, the
        # workers their metrics port only, from the metricsFrom peers.
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        np = values["networkPolicy"]
        if component == "console":
            own = values["console"]["networkPolicy"]
            assert rule["from"] == own["from"] + own["metricsFrom"]
        elif component != "ingress":
            assert rule["from"] == np["metricsFrom"]
        elif np["ingressFrom"] and np["metricsFrom"]:
            assert rule["from"][: len(np["ingressFrom"])] == np["ingressFrom"]
            assert all(peer in rule["from"] for peer in np["metricsFrom"])
        else:
            assert "from" not in rule


def test_autoscaling_and_disruption_budgets_follow_the_values(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    values = helm.chart_values(scenario)
    docs = manifests[scenario]
    hpas = {component_of(h): h for h in helm.by_kind(docs, "HorizontalPodAutoscaler")}
    pdbs = {component_of(p): p for p in helm.by_kind(docs, "PodDisruptionBudget")}
    for component, deployment in deployments(docs, scenario).items():
        wanted = values[component]
        if wanted["autoscaling"]["enabled"]:
            hpa = hpas[component]
            assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
            assert "replicas" not in deployment["spec"]
        else:
            assert component not in hpas
            assert deployment["spec"]["replicas"] == wanted["replicaCount"]
        if wanted["podDisruptionBudget"]["enabled"]:
            selector = pdbs[component]["spec"]["selector"]["matchLabels"]
            assert selector == deployment["spec"]["selector"]["matchLabels"]
        else:
            assert component not in pdbs


def test_grace_period_covers_the_drain(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    for component, deployment in deployments(manifests[scenario], scenario).items():
        configmap = configmap_of(manifests[scenario], deployment)
        drain = float(configmap["data"]["DRAIN_TIMEOUT"])
        spec = helm.pod_spec(deployment)
        (container,) = spec["containers"]
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        sleep = float(pre_stop["command"][1]) if pre_stop else 0.0
        assert spec["terminationGracePeriodSeconds"] > drain + sleep, component


def configmap_of(docs: list[helm.Doc], deployment: helm.Doc) -> helm.Doc:
    (container,) = helm.pod_spec(deployment)["containers"]
    (source,) = [s for s in container["envFrom"] if "configMapRef" in s]
    name = source["configMapRef"]["name"]
    (configmap,) = [c for c in helm.by_kind(docs, "ConfigMap") if c["metadata"]["name"] == name]
    return configmap


def test_services_listen_on_all_interfaces(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    for component, deployment in deployments(manifests[scenario], scenario).items():
        data = configmap_of(manifests[scenario], deployment)["data"]
        assert data["HOST"] == "0.0.0.0", component  # noqa: S104 - inside the pod
        assert data["PORT"] == str(
            helm.pod_spec(deployment)["containers"][0]["ports"][0]["containerPort"]
        )
        assert all(isinstance(value, str) for value in data.values())


def test_references_resolve(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    """Secrets, ConfigMaps, Services and ServiceAccounts that the manifests name exist (or
    are the existing Secrets and ServiceAccount the values name)."""
    docs = manifests[scenario]
    values = helm.chart_values(scenario)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    external_secrets = {
        values["secrets"]["existingSecret"],
        values["nats"]["auth"]["existingSecret"],
        values["conversation"]["toolsSecret"]["existingSecret"],
        values["handoff"]["chatwoot"]["existingSecret"],
        values["handoff"]["webhook"]["existingSecret"],
    }
    for doc in workloads(docs):
        spec = helm.pod_spec(doc)
        account = spec["serviceAccountName"]
        if values["serviceAccount"]["create"]:
            assert ("ServiceAccount", account) in names
        else:
            assert account == (values["serviceAccount"]["name"] or "default")
        for container in containers(doc):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ("Secret", ref["name"]) in names or ref["name"] in external_secrets
                    if ("Secret", ref["name"]) in names:
                        (secret,) = [
                            s
                            for s in helm.by_kind(docs, "Secret")
                            if s["metadata"]["name"] == ref["name"]
                        ]
                        assert ref["key"] in secret["data"], ref
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    name = source["secretRef"]["name"]
                    assert ("Secret", name) in names or name in external_secrets
                else:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in names
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
    services = {s["metadata"]["name"]: s for s in helm.by_kind(docs, "Service")}
    for ingress in helm.by_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                assert backend["port"]["name"] in {
                    p["name"] for p in services[backend["name"]]["spec"]["ports"]
                }
    for monitor in helm.by_kind(docs, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        matching = [
            s for s in services.values() if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, monitor["metadata"]["name"]
        assert {p["name"] for p in matching[0]["spec"]["ports"]} >= {
            e["port"] for e in monitor["spec"]["endpoints"]
        }
    for service in services.values():
        if service["metadata"]["labels"].get("app.kubernetes.io/part-of"):
            selected = [
                d
                for d in deployments(docs, scenario).values()
                if service["spec"]["selector"].items()
                <= d["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert len(selected) == 1, service["metadata"]["name"]


def test_ingress_exposes_only_the_webhooks(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    """Twilio's routes, and the desk's webhook (one exact path, /desk/<desk>) when a desk is
    configured, on the public component's Ingress (the console's own: test_console)."""
    values = helm.chart_values(scenario)
    desk = values["handoff"]["desk"]
    public = [
        ingress
        for ingress in helm.by_kind(manifests[scenario], "Ingress")
        if values[component_of(ingress)].get("public")
    ]
    assert public or not values["ingress"]["ingress"]["enabled"]
    for ingress in public:
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                if desk != "none" and path["path"] == f"/desk/{desk}":
                    assert path["pathType"] == "Exact", path
                    continue
                assert path["path"].startswith("/twilio"), path
        assert ingress["spec"].get("tls"), "Twilio calls webhooks over https"


def test_helm_test_pod(manifests: dict[str, list[helm.Doc]], scenario: str) -> None:
    (pod,) = [p for p in helm.by_kind(manifests[scenario], "Pod") if component_of(p) == "test"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    ingress = deployments(manifests[scenario], scenario)["ingress"]
    assert container["image"] == helm.pod_spec(ingress)["containers"][0]["image"]
