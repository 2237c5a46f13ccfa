"""helm lint --strict and helm template for every ci/*-values.yaml scenario, with Helm 3 and
Helm 4, and every rendered manifest validated by kubernetes-validate --strict for Kubernetes
1.29 and the newest version kubernetes-validate bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate.utils
import pytest

from . import helm

KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
SCHEMAS = Path(__file__).resolve().parent / "schemas"


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
def test_helm_versions(helms: dict[str, Path], major: str) -> None:
    version = subprocess.run(
        [str(helm.helm_binary(major)), "version", "--short"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.startswith(f"v{major}."), version


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_lint_strict(charts: helm.ChartCopies, scenario: str, major: str) -> None:
    result = helm.run_helm(
        major,
        [
            "lint",
            "--strict",
            str(charts.for_scenario(scenario)),
            "--values",
            str(helm.scenario_file(scenario)),
        ],
        charts.home,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_template_renders(rendered: dict[tuple[str, str], str], scenario: str, major: str) -> None:
    output = rendered[scenario, major]
    assert not output.startswith("RENDER FAILED"), output
    assert "kind: Deployment" in output


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_helm3_and_helm4_render_the_same(
    rendered: dict[tuple[str, str], str], scenario: str
) -> None:
    assert rendered[scenario, "3"] == rendered[scenario, "4"]


def test_kubernetes_validate_strict(rendered_files: dict[str, Path]) -> None:
    """One kubernetes-validate run over every scenario, for both Kubernetes versions."""
    versions = [arg for version in KUBERNETES_VERSIONS for arg in ("-k", version)]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            *versions,
            *map(str, rendered_files.values()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("WARN ")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert not errors, result.stdout
    # The only kinds without a bundled schema are the Prometheus Operator's CRDs, which
    # test_custom_resources_match_their_schema checks instead.
    unknown = {
        line.split(" kind ")[1].split()[0] for line in lines if "Couldn't find schema" in line
    }
    assert unknown <= CRD_KINDS, lines


@pytest.mark.parametrize("scenario", helm.SCENARIOS)
def test_custom_resources_match_their_schema(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    """ServiceMonitor and PrometheusRule against the subset of their CRDs the chart uses."""
    for kind in sorted(CRD_KINDS):
        schema = json.loads((SCHEMAS / f"{kind.lower()}.json").read_text())
        for doc in helm.by_kind(manifests[scenario], kind):
            jsonschema.validate(doc, schema)


def test_values_yaml_is_valid_against_the_schema() -> None:
    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    jsonschema.validate(helm.chart_values(), schema)
    for scenario in helm.SCENARIOS:
        jsonschema.validate(helm.chart_values(scenario), schema)
