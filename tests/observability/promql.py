"""The metric names the dashboard and the alert rules use, read out of their PromQL.

A scrape's sample names are what an expression selects (``chatbot_x_bucket``, ``chatbot_x_count``,
``chatbot_x_total``), so names are compared as written: no suffix is stripped, and a wrong suffix
(a ``_count`` of a counter) is caught.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..chart.helm import CHART, documents, make_copies, scenario_file, template

__all__ = [
    "DASHBOARD",
    "SYNTHETIC",
    "dashboard_expressions",
    "metric_names",
    "render_rules",
    "rule_expressions",
    "rules_file",
]

DASHBOARD = CHART / "dashboards" / "chatbot.json"
SYNTHETIC = frozenset({"up"})
"""Series Prometheus makes itself when it scrapes, not exported by a service."""

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NAME = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_LABEL_VALUES = re.compile(r"^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords, labels and numbers left out)."""
    if match := _LABEL_VALUES.match(expr.strip()):  # Grafana's variable query
        return {match.group(1)}
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS}


def dashboard_expressions(dashboard: Path = DASHBOARD) -> list[str]:
    """Every query of the dashboard: panel targets and the template variables' queries."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    loaded = json.loads(dashboard.read_text())
    walk(loaded["panels"])
    for variable in loaded["templating"]["list"]:
        if variable.get("type") == "query":
            found.append(variable["definition"])
    return found


def render_rules(folder: Path) -> list[dict[str, Any]]:
    """The PrometheusRule's rule groups as the chart renders them (Helm 4, production values)."""
    copies = make_copies(folder)
    rendered = template("4", copies.offline, copies.home, values=[scenario_file("production")])
    (rule,) = [doc for doc in documents(rendered.stdout) if doc["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def rule_expressions(groups: list[dict[str, Any]]) -> list[str]:
    return [rule["expr"] for group in groups for rule in group["rules"]]


def rules_file(groups: list[dict[str, Any]], path: Path, *, annotations: bool = True) -> Path:
    """Write ``groups`` as a Prometheus rule file (optionally without annotations)."""
    if not annotations:
        groups = [
            {**group, "rules": [_without_annotations(rule) for rule in group["rules"]]}
            for group in groups
        ]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _without_annotations(rule: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in rule.items() if key != "annotations"}
