"""The alerts and the dashboard use only metrics (and labels) the services export, and the
rules are valid PromQL for Prometheus's own checker."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from .helm import CHART, ROOT, Doc, by_kind

METRIC_KINDS = {"Counter": (), "Gauge": (), "Histogram": ("_bucket", "_sum", "_count")}
# Labels Prometheus adds when it scrapes (ServiceMonitor targets), and histogram's `le`.
TARGET_LABELS = {"namespace", "job", "pod", "service", "instance", "endpoint", "container", "le"}
_METRIC = re.compile(r"\b(chatbot_[a-z0-9_]+)\b")
_SELECTOR = re.compile(r"\b(chatbot_[a-z0-9_]+)\s*\{([^}]*)\}")
_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


@cache
def exported() -> dict[str, set[str]]:
    """Metric name -> label names, from every prometheus_client metric in services/*/src."""
    metrics: dict[str, set[str]] = {}
    for source in sorted(ROOT.glob("services/*/src/**/*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in METRIC_KINDS or not node.args:
                continue
            name = node.args[0]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            labels_node = node.args[2] if len(node.args) > 2 else None
            for keyword in node.keywords:
                if keyword.arg == "labelnames":
                    labels_node = keyword.value
            labels = set()
            if isinstance(labels_node, ast.List | ast.Tuple):
                labels = {elt.value for elt in labels_node.elts if isinstance(elt, ast.Constant)}
            for suffix in ("", *METRIC_KINDS[node.func.id]):
                metrics[name.value + suffix] = labels
    return metrics


def rule_expressions(docs: list[Doc]) -> list[str]:
    return [
        rule["expr"]
        for doc in by_kind(docs, "PrometheusRule")
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    ]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((CHART / "dashboards" / "chatbot.json").read_text())
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(dashboard)
    found.append(dashboard["templating"]["list"][1]["definition"])
    return found


def check_expression(expr: str) -> None:
    metrics = exported()
    names = set(_METRIC.findall(expr))
    assert names, f"no chatbot metric in {expr!r}"
    unknown = names - set(metrics)
    assert not unknown, f"{sorted(unknown)} are not exported by the services: {expr!r}"
    for name, matchers in _SELECTOR.findall(expr):
        used = set(_MATCHER.findall(matchers))
        assert used <= metrics[name] | TARGET_LABELS, (name, used - metrics[name], expr)
    allowed = set().union(*(metrics[name] for name in names)) | TARGET_LABELS
    for group in _BY.findall(expr):
        used = {label.strip() for label in group.split(",") if label.strip()}
        assert used <= allowed, (used - allowed, expr)


def test_the_source_scan_finds_the_known_metrics() -> None:
    metrics = exported()
    assert metrics["chatbot_webhook_requests_total"] == {"route", "outcome"}
    assert "chatbot_webhook_request_seconds_bucket" in metrics
    assert "chatbot_consumer_messages_total" in metrics


def test_alerts_use_exported_metrics(manifests: dict[str, list[Doc]]) -> None:
    expressions = rule_expressions(manifests["production"])
    assert len(expressions) >= 8
    for expr in expressions:
        if "up{" in expr and "chatbot_" not in expr:
            continue
        check_expression(expr)


def test_dashboard_uses_exported_metrics() -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    for expr in expressions:
        if expr.startswith("sum by (job) (up{"):
            continue
        check_expression(expr)


def test_dashboard_configmap(manifests: dict[str, list[Doc]]) -> None:
    (configmap,) = [
        c
        for c in by_kind(manifests["production"], "ConfigMap")
        if "chatbot.json" in c.get("data", {})
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "monitoring"
    shipped = json.loads((CHART / "dashboards" / "chatbot.json").read_text())
    assert json.loads(configmap["data"]["chatbot.json"]) == shipped
    assert "{{route}}" in configmap["data"]["chatbot.json"]  # Grafana's templates, untouched


def test_monitoring_objects_are_switchable(manifests: dict[str, list[Doc]]) -> None:
    default = manifests["default"]
    assert by_kind(default, "ServiceMonitor") == []
    assert by_kind(default, "PrometheusRule") == []
    assert not [c for c in by_kind(default, "ConfigMap") if "chatbot.json" in c.get("data", {})]
    production = manifests["production"]
    assert len(by_kind(production, "ServiceMonitor")) == 3
    assert len(by_kind(production, "PrometheusRule")) == 1


def test_promtool_accepts_the_rules(manifests: dict[str, list[Doc]], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: `make test-tools` installs Debian's prometheus package")
    (rule,) = by_kind(manifests["production"], "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
