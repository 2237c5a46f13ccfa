"""Rendering charts/chatbot with real Helm 3 and Helm 4 binaries, offline.

Helm will not render a chart whose NATS dependency is missing from ``charts/``, so each scenario
renders one of two copies made once per session: ``offline`` (the dependency taken out) or
``stubbed`` (``tests/chart/nats-stub`` as ``charts/nats``). Why: docs/kubernetes.md (Tests).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "chatbot"
SCENARIOS = sorted(
    path.name.removesuffix("-values.yaml") for path in CHART.glob("ci/*-values.yaml")
)
NATS_STUB = Path(__file__).resolve().parent / "nats-stub"
RELEASE = "chatbot"
NAMESPACE = "chat"
HELM_VERSIONS = ("3", "4")
COMPONENTS = ("ingress", "conversation", "sender", "console")
"""Every component of the chart, in its order (chatbot.components)."""

Doc = dict[str, Any]


def helm_binary(major: str) -> Path:
    """The helm binary of a major version: $HELM3 / $HELM4, or .tools/helm3 / .tools/helm4."""
    return Path(os.environ.get(f"HELM{major}", ROOT / ".tools" / f"helm{major}"))


def helm_env(home: Path) -> dict[str, str]:
    """An environment that keeps helm's config and cache out of the user's home."""
    return {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def scenario_file(scenario: str) -> Path:
    return CHART / "ci" / f"{scenario}-values.yaml"


def scenario_values(scenario: str) -> Doc:
    loaded = yaml.safe_load(scenario_file(scenario).read_text())
    return loaded if isinstance(loaded, dict) else {}


def merged(base: Doc, override: Doc) -> Doc:
    """``override`` merged into ``base`` the way Helm merges values files (maps deeply)."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def chart_values(scenario: str | None = None) -> Doc:
    """values.yaml, with a scenario's values merged in."""
    values: Doc = yaml.safe_load((CHART / "values.yaml").read_text())
    return merged(values, scenario_values(scenario)) if scenario else values


def deployed(values: Doc) -> tuple[str, ...]:
    """The components a release with these (complete) values deploys: the console only with
    console.enabled."""
    return tuple(c for c in COMPONENTS if values[c].get("enabled", True))


def uses_bundled_nats(scenario: str) -> bool:
    return bool(scenario_values(scenario).get("nats", {}).get("enabled"))


@dataclass(frozen=True)
class ChartCopies:
    """The two copies of the chart the tests render (see the module docstring)."""

    offline: Path
    stubbed: Path
    home: Path

    def for_scenario(self, scenario: str) -> Path:
        return self.stubbed if uses_bundled_nats(scenario) else self.offline


def make_copies(into: Path) -> ChartCopies:
    offline = into / "offline" / "chatbot"
    shutil.copytree(CHART, offline, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    chart_yaml = offline / "Chart.yaml"
    meta = yaml.safe_load(chart_yaml.read_text())
    meta["dependencies"] = [dep for dep in meta.get("dependencies", []) if dep["name"] != "nats"]
    if not meta["dependencies"]:
        del meta["dependencies"]
    chart_yaml.write_text(yaml.safe_dump(meta, sort_keys=False))

    stubbed = into / "stubbed" / "chatbot"
    shutil.copytree(CHART, stubbed, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    shutil.copytree(NATS_STUB, stubbed / "charts" / "nats")
    home = into / "helm-home"
    home.mkdir()
    return ChartCopies(offline=offline, stubbed=stubbed, home=home)


def run_helm(
    major: str, args: list[str], home: Path, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_binary(major)), *args],
        capture_output=True,
        text=True,
        env=helm_env(home),
        check=check,
        timeout=120,
    )


def template(
    major: str,
    chart: Path,
    home: Path,
    *,
    values: Sequence[Path] = (),
    sets: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    return run_helm(major, args, home, check=check)


def documents(rendered: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [doc for doc in by_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
    return spec


def _configmap_env(docs: list[Doc], workload: Doc) -> dict[str, str]:
    env: dict[str, str] = {}
    for container in pod_spec(workload)["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" not in source:
                continue  # a Secret of tool header variables: tools_env
            name = source["configMapRef"]["name"]
            (configmap,) = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == name]
            env.update(configmap["data"])
    return env


def _entries_env(docs: list[Doc], workload: Doc) -> dict[str, str]:
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    env = {}
    (container,) = pod_spec(workload)["containers"]
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            env[entry["name"]] = entry["value"]
        elif ref["name"] in secrets:
            env[entry["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
        elif entry["name"] == "NATS_URL":
            env[entry["name"]] = "nats://user:password@nats.example:4222"
        elif entry["name"] == "TWILIO_ACCOUNT_SID":
            env[entry["name"]] = "AC" + "0" * 32
        elif entry["name"] == "CONSOLE_TOKEN":  # the console takes 32 characters or more
            env[entry["name"]] = "existing-console-token-" + "0" * 16
        else:  # an existing Secret the tests cannot read: a stable placeholder
            env[entry["name"]] = f"existing-{entry['name'].lower()}"
    return env


def container_env(docs: list[Doc], workload: Doc) -> dict[str, str]:
    """The environment the workload's container gets: its ConfigMap, then its env entries
    (Secrets resolved from the rendered ones, or placeholders for existing Secrets)."""
    return {**_configmap_env(docs, workload), **_entries_env(docs, workload)}


def mounted_tools(docs: list[Doc], workload: Doc) -> Doc | None:
    """The tools file the workload mounts (its ``-tools`` ConfigMap's tools.yaml), parsed."""
    for volume in pod_spec(workload).get("volumes", []):
        if volume["name"] == "tools":
            configmap = named(docs, "ConfigMap", volume["configMap"]["name"])
            loaded: Doc = yaml.safe_load(configmap["data"]["tools.yaml"])
            return loaded
    return None


def tools_env(docs: list[Doc], workload: Doc) -> dict[str, str]:
    """The tool header variables the container loads from Secrets (envFrom): a rendered
    Secret's decoded data, or for an existing Secret the tests cannot read, a placeholder for
    every variable the mounted tools file's headers_from_env names."""
    env: dict[str, str] = {}
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    tools = mounted_tools(docs, workload) or {}
    wanted = {
        name
        for tool in [*tools.get("functions", []), *tools.get("hosted", [])]
        for name in tool.get("headers_from_env", {}).values()
    }
    (container,) = pod_spec(workload)["containers"]
    for source in container.get("envFrom", []):
        ref = source.get("secretRef")
        if ref is None:
            continue
        if ref["name"] in secrets:
            data = secrets[ref["name"]]["data"]
            env.update({key: base64.b64decode(value).decode() for key, value in data.items()})
        else:
            env.update({name: f"existing-{name.lower()}" for name in wanted})
    return env


def render_over_default(
    charts: ChartCopies,
    tmp_path: Path,
    values: Doc,
    *sets: str,
    major: str = "4",
    check: bool = True,
) -> list[Doc] | str:
    """The default scenario with ``values`` over it: its manifests, or (check=False) the error
    of a render that fails."""
    path = tmp_path / f"over-default-{major}.yaml"
    path.write_text(yaml.safe_dump(values))
    result = template(
        major,
        charts.offline,
        charts.home,
        values=[scenario_file("default"), path],
        sets=list(sets),
        check=check,
    )
    if not check:
        assert result.returncode != 0, "expected the render to fail"
        return result.stderr
    return documents(result.stdout)


def rendered(
    charts: ChartCopies, tmp_path: Path, values: Doc, *sets: str, major: str = "4"
) -> list[Doc]:
    """The default scenario with ``values`` over it, rendered."""
    docs = render_over_default(charts, tmp_path, values, *sets, major=major)
    assert isinstance(docs, list)
    return docs


def refused(charts: ChartCopies, tmp_path: Path, values: Doc, *sets: str) -> str:
    """The error of rendering the default scenario with ``values`` over it."""
    error = render_over_default(charts, tmp_path, values, *sets, check=False)
    assert isinstance(error, str)
    return error
