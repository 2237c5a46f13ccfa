"""The alerts and the dashboard use only metrics (and labels) the services export, every alert
carries its runbook, and the rules are valid and behave as intended for Prometheus's own tools
(`promtool check rules`, and `promtool test rules` with tests/chart/alert-tests.yaml)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..observability.catalogue import catalogue, defined_in_source, sample_names
from ..observability.promql import SYNTHETIC, dashboard_expressions, metric_names, rules_file
from . import helm

ALERT_TESTS = Path(__file__).with_name("alert-tests.yaml")
RUNBOOKS = helm.ROOT / "docs" / "runbooks.md"
# Labels Prometheus adds when it scrapes (ServiceMonitor targets), and histogram's `le`.
TARGET_LABELS = {"namespace", "job", "pod", "service", "instance", "endpoint", "container", "le"}
_SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\{([^}]*)\}")
_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, from the services' source and the catalogue (standard ones)."""
    samples: dict[str, set[str]] = {}
    for entry in catalogue().values():
        for name in sample_names(entry.name, entry.type):
            samples[name] = set(entry.labels)
    for metric in defined_in_source().values():
        for name in sample_names(metric.name, metric.type):
            samples[name] = set(metric.labels)
    return samples


def rule_groups(docs: list[helm.Doc]) -> list[helm.Doc]:
    (rule,) = helm.by_kind(docs, "PrometheusRule")
    groups: list[helm.Doc] = rule["spec"]["groups"]
    return groups


def rule_expressions(docs: list[helm.Doc]) -> list[str]:
    return [rule["expr"] for group in rule_groups(docs) for rule in group["rules"]]


def check_expression(expr: str) -> None:
    metrics = exported()
    names = metric_names(expr) - SYNTHETIC
    assert names or "up{" in expr, f"no metric in {expr!r}"
    unknown = names - set(metrics)
    assert not unknown, f"{sorted(unknown)} are not exported by the services: {expr!r}"
    for name, matchers in _SELECTOR.findall(expr):
        if name not in metrics:
            continue  # `up`, or a function's name before a label list (none do)
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
    assert "chatbot_consumer_messages_total_count" not in metrics


def test_alerts_use_exported_metrics(manifests: dict[str, list[helm.Doc]]) -> None:
    expressions = rule_expressions(manifests["production"])
    assert len(expressions) >= 15
    for expr in expressions:
        check_expression(expr)


def test_dashboard_uses_exported_metrics() -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 40
    for expr in expressions:
        check_expression(expr)


def test_the_dashboard_covers_what_operators_watch() -> None:
    """Traffic, reply latency percentiles, LLM latency and tokens, tool calls, handoffs, outreach
    and the 24-hour window, errors
    by class and Twilio code, DLQ, delivery statuses, consumer lag and saturation each have a
    panel."""
    text = " ".join(dashboard_expressions())
    for needed in (
        'route="/twilio/messages", outcome="accepted"',
        "histogram_quantile(0.99, sum by (le) (rate(chatbot_reply_latency_seconds_bucket",
        "histogram_quantile(0.5, sum by (le) (rate(chatbot_reply_latency_seconds_bucket",
        "histogram_quantile(0.95, sum by (le, model) (rate(chatbot_llm_request_seconds_bucket",
        "sum by (model, kind) (rate(chatbot_llm_tokens_total",
        "sum by (model, error) (rate(chatbot_llm_errors_total",
        "sum by (outcome, code) (rate(chatbot_outbound_sends_total",
        "chatbot_dlq_messages_total",
        "sum by (status) (rate(chatbot_delivery_statuses_total",
        "chatbot_consumer_pending_messages",
        "chatbot_consumer_ack_pending_messages",
        'chatbot_consumer_in_flight_messages{namespace=~"$namespace"} / '
        "chatbot_consumer_max_in_flight_messages",
        "process_cpu_seconds_total",
        "sum by (tool, outcome) (rate(chatbot_tool_calls_total",
        "histogram_quantile(0.5, sum by (le, tool) (rate(chatbot_tool_call_seconds_bucket",
        "histogram_quantile(0.95, sum by (le, tool) (rate(chatbot_tool_call_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(chatbot_turn_tool_rounds_bucket",
        "sum by (reason) (rate(chatbot_handoffs_started_total",
        "sum by (reason) (rate(chatbot_handoffs_ended_total",
        "max(chatbot_handoff_users",
        "max(chatbot_handoff_oldest_wait_seconds",
        "histogram_quantile(0.5, sum by (le) (rate(chatbot_handoff_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(chatbot_handoff_seconds_bucket",
        "sum by (direction) (rate(chatbot_handoff_messages_total",
        "sum by (operation) (increase(chatbot_desk_errors_total",
        "sum by (outcome) (rate(chatbot_desk_webhooks_total",
        "sum by (outcome) (rate(chatbot_outreach_requests_total",
        "sum by (outcome) (rate(chatbot_outreach_sends_total",
        "sum by (cause) (increase(chatbot_window_closed_total",
        "sum by (outcome) (increase(chatbot_template_fallbacks_total",
        "sum by (change) (increase(chatbot_opt_changes_total",
    ):
        assert needed in text, needed


def test_dashboard_panels_are_laid_out_without_overlap() -> None:
    dashboard = json.loads((helm.CHART / "dashboards" / "chatbot.json").read_text())
    taken: set[tuple[int, int]] = set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_configmap(manifests: dict[str, list[helm.Doc]]) -> None:
    (configmap,) = [
        c
        for c in helm.by_kind(manifests["production"], "ConfigMap")
        if "chatbot.json" in c.get("data", {})
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == "monitoring"
    shipped = json.loads((helm.CHART / "dashboards" / "chatbot.json").read_text())
    assert json.loads(configmap["data"]["chatbot.json"]) == shipped
    assert "{{route}}" in configmap["data"]["chatbot.json"]  # Grafana's templates, untouched


def test_monitoring_objects_are_switchable(manifests: dict[str, list[helm.Doc]]) -> None:
    default = manifests["default"]
    assert helm.by_kind(default, "ServiceMonitor") == []
    assert helm.by_kind(default, "PrometheusRule") == []
    assert not [
        c for c in helm.by_kind(default, "ConfigMap") if "chatbot.json" in c.get("data", {})
    ]
    production = manifests["production"]
    monitored = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]
        for m in helm.by_kind(production, "ServiceMonitor")
    }
    assert monitored == set(helm.COMPONENTS)  # the console's included
    assert len(helm.by_kind(production, "PrometheusRule")) == 1


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_its_texts_and_a_runbook_section(
    manifests: dict[str, list[helm.Doc]],
) -> None:
    sections = {
        _slug(line.removeprefix("## ")): line.removeprefix("## ").strip()
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    alerts = [rule for group in rule_groups(manifests["production"]) for rule in group["rules"]]
    ours = [rule for rule in alerts if rule.get("alert", "").startswith("Chatbot")]
    ours = [rule for rule in ours if rule["alert"] != "ChatbotNoWebhooks"]  # additionalRules
    for rule in ours:
        annotations = rule["annotations"]
        for key in ("summary", "description", "runbook", "runbook_url"):
            assert annotations.get(key, "").strip(), (rule["alert"], key)
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/runbooks.md", rule["alert"]
        assert sections.get(anchor) == rule["alert"], (rule["alert"], anchor)
    assert set(sections.values()) == {rule["alert"] for rule in ours}
    for required in (
        "ChatbotReplyLatencyBudgetBurnFast",
        "ChatbotReplyLatencyBudgetBurnSlow",
        "ChatbotTurnsFailing",
        "ChatbotDeadLetters",
        "ChatbotConsumerLag",
        "ChatbotNoTraffic",
        "ChatbotOpenAIQuotaExhausted",
        "ChatbotTwilioRejections",
        "ChatbotDeliveryFailures",
    ):
        assert required in sections.values(), required


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: `make test-tools` installs Debian's prometheus package")
    return found


def test_promtool_accepts_the_rules(manifests: dict[str, list[helm.Doc]], tmp_path: Path) -> None:
    path = rules_file(rule_groups(manifests["production"]), tmp_path / "rules.yaml")
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass(
    manifests: dict[str, list[helm.Doc]], tmp_path: Path
) -> None:
    """Input series -> expected alerts (tests/chart/alert-tests.yaml), on the rendered rules."""
    rules_file(rule_groups(manifests["production"]), tmp_path / "rules.yaml", annotations=False)
    tests = tmp_path / ALERT_TESTS.name
    shutil.copyfile(ALERT_TESTS, tests)
    result = subprocess.run(
        [promtool(), "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
