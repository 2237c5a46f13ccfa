"""skaffold.yaml: the three images as artifacts of the Dockerfile's targets, the chart deployed
with Skaffold's image values (skaffold/*.yaml), a dev profile, and a port-forward to the ingress
Service. No skaffold binary here: its templates are filled in as Skaffold would, and the chart
rendered and linted."""

from __future__ import annotations

import re

import pytest
import yaml

from . import helm
from .test_images import SERVICES, dockerfile_stages

SKAFFOLD = yaml.safe_load((helm.ROOT / "skaffold.yaml").read_text())
(RELEASE,) = SKAFFOLD["deploy"]["helm"]["releases"]


def sanitized(image: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", image)


def skaffold_sets(profile: str | None) -> tuple[list[str], list[str]]:
    """The values files and --set items Skaffold passes, for a fake built tag."""
    files = list(RELEASE["valuesFiles"])
    if profile is not None:
        (found,) = [p for p in SKAFFOLD["profiles"] if p["name"] == profile]
        for patch in found["patches"]:
            assert patch["op"] == "add"
            assert patch["path"] == "/deploy/helm/releases/0/valuesFiles/-"
            files.append(patch["value"])
    fake = {}
    for artifact in SKAFFOLD["build"]["artifacts"]:
        key = sanitized(artifact["image"])
        fake[f"IMAGE_REPO_{key}"] = f"registry.local/{artifact['image']}"
        fake[f"IMAGE_TAG_{key}"] = "3f2a9c1"
    sets = []
    for name, value in RELEASE["setValueTemplates"].items():
        filled = re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda m: fake[m[1]], value)
        sets.append(f"{name}={filled}")
    return files, sets


def test_schema_version_and_artifacts() -> None:
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta14"
    assert SKAFFOLD["kind"] == "Config"
    stages = dockerfile_stages()
    artifacts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert sorted(artifacts) == sorted(f"chatbot-{service}" for service in SERVICES)
    for service in SERVICES:
        artifact = artifacts[f"chatbot-{service}"]
        assert artifact["context"] == "."
        assert artifact["docker"]["dockerfile"] == "Dockerfile"
        assert artifact["docker"]["target"] in stages
        assert artifact["docker"]["target"] == service


def test_image_values_come_from_the_build() -> None:
    templates = RELEASE["setValueTemplates"]
    values = helm.chart_values()
    for service in SERVICES:
        key = sanitized(f"chatbot-{service}")
        assert templates[f"{service}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert templates[f"{service}.image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
        assert {"repository", "tag"} <= set(values[service]["image"])
    assert (helm.ROOT / RELEASE["chartPath"]) == helm.CHART


@pytest.mark.parametrize("profile", [None, "dev"])
def test_skaffold_deploys_the_chart(charts: helm.ChartCopies, profile: str | None) -> None:
    files, sets = skaffold_sets(profile)
    chart = charts.stubbed if profile == "dev" else charts.offline
    result = helm.template(
        "4", chart, charts.home, values=[helm.ROOT / f for f in files], sets=sets
    )
    docs = helm.documents(result.stdout)
    images = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        for d in helm.by_kind(docs, "Deployment")
    }
    # The images Skaffold builds; the console's is not one yet (test_console's
    # test_skaffold_builds_the_console_image).
    built = {s: image for s, image in images.items() if s in SERVICES}
    assert built == {s: f"registry.local/chatbot-{s}:3f2a9c1" for s in SERVICES}
    (forward,) = SKAFFOLD["portForward"]
    assert forward["namespace"] == RELEASE["namespace"]
    # The port-forward names the ingress Service the chart renders for this release name.
    assert RELEASE["name"] == helm.RELEASE
    services = {s["metadata"]["name"]: s for s in helm.by_kind(docs, "Service")}
    assert forward["resourceType"] == "service"
    assert forward["resourceName"] in services
    ports = services[forward["resourceName"]]["spec"]["ports"]
    assert forward["port"] in {port["port"] for port in ports}


@pytest.mark.parametrize("profile", [None, "dev"])
def test_skaffold_values_lint_strict(charts: helm.ChartCopies, profile: str | None) -> None:
    files, sets = skaffold_sets(profile)
    chart = charts.stubbed if profile == "dev" else charts.offline
    args = ["lint", "--strict", str(chart)]
    for path in files:
        args += ["--values", str(helm.ROOT / path)]
    for item in sets:
        args += ["--set", item]
    result = helm.run_helm("4", args, charts.home, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout, result.stdout


def test_profile_values_are_not_chart_scenarios() -> None:
    """Outside the chart: not packaged, and not rendered as a ci/ scenario."""
    files, _ = skaffold_sets("dev")
    for path in files:
        assert (helm.ROOT / path).is_file(), path
        assert not (helm.ROOT / path).resolve().is_relative_to(helm.CHART), path


def test_dev_profile_is_activated_by_skaffold_dev() -> None:
    (dev,) = [p for p in SKAFFOLD["profiles"] if p["name"] == "dev"]
    assert {"command": "dev"} in dev["activation"]
    dev_values = yaml.safe_load((helm.ROOT / dev["patches"][0]["value"]).read_text())
    assert dev_values["nats"]["enabled"] is True
    assert (
        dev_values["publicBaseUrl"] == f"http://127.0.0.1:{SKAFFOLD['portForward'][0]['localPort']}"
    )
