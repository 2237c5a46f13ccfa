"""The services' metrics, end to end, against a real Prometheus server (Debian's package).

One run of the whole stack serves every test here: Prometheus scrapes the three services and
loads the chart's alert rules while a few messages, some failing, go through. What is checked:
docs/observability.md (Tests); the catalogue it keeps exact: docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from chatbot_conversation.config import ConversationSettings
from chatbot_devstack import (
    BUSINESS_NUMBER,
    DEFAULT_OPENAI_MODEL,
    LocalStack,
    ManagedProcess,
    Ports,
    ProcessSpec,
    example_tools_file,
    free_port,
    inbound_form,
    signed,
    user_number,
)

from ..observability.catalogue import catalogue
from ..observability.promql import (
    SYNTHETIC,
    dashboard_expressions,
    metric_names,
    render_rules,
    rule_expressions,
    rules_file,
)

pytestmark = pytest.mark.e2e

SERVICES = ("ingress", "conversation", "sender", "console")
NAMESPACE = "chat"
JOBS = {name: f"chatbot-{name}" for name in SERVICES}
"""The job names the chart's ServiceMonitors give for release "chatbot" (the Service names)."""
USERS = [user_number(n) for n in range(1, 6)]


SHUTDOWN = (datetime.now(UTC) + timedelta(days=20)).date()
"""The answering model's shutdown date in this run: inside the 30 days of the warning."""
UNKNOWN_MODEL = "gpt-transcribe-withdrawn"
MODEL_LIFECYCLE = {
    "SANDBOX_OPENAI_MODELS": json.dumps({DEFAULT_OPENAI_MODEL: SHUTDOWN.isoformat()}),
    "OPENAI_TRANSCRIPTION_MODEL": UNKNOWN_MODEL,
}


@dataclass(frozen=True)
class Observed:
    """The run the tests look at: the stack, Prometheus, the rules, each service's /metrics."""

    stack: LocalStack
    prometheus: str
    rules: list[dict[str, Any]]
    scrapes: dict[str, str]
    log: Path


def poll[T](attempt: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """``attempt()`` until it returns something, for at most ``timeout`` seconds.

    For Prometheus, whose API cannot wait for a condition: it scrapes and evaluates each second.
    """
    deadline = time.monotonic() + timeout
    while (result := attempt()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(0.25)
    return result


@contextmanager
def prometheus(stack: LocalStack, folder: Path, rules: Path) -> Iterator[str]:
    """Prometheus scraping every service and evaluating ``rules`` each second; yields its URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: `make test` installs Debian's prometheus package")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": JOBS[name],
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{getattr(stack.ports, name)}"],
                        "labels": {"namespace": NAMESPACE},
                    }
                ],
            }
            for name in SERVICES
        ],
    }
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    spec = ProcessSpec(
        "prometheus",
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        ready_url=f"http://127.0.0.1:{port}/-/ready",
    )
    log = (folder / "prometheus.log").open("a")
    process = ManagedProcess(spec, lambda _, line: log.write(line + "\n"))
    process.start()
    try:
        asyncio.run(process.ready(30))
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run(process.stop())
        log.close()


def query(http: httpx.Client, url: str, promql: str) -> list[dict[str, Any]]:
    answer = http.get(f"{url}/api/v1/query", params={"query": promql})
    body = answer.json()
    assert body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def query_until(http: httpx.Client, url: str, promql: str, expected: int) -> list[dict[str, Any]]:
    """Ask Prometheus until the query returns at least ``expected`` series."""

    def attempt() -> list[dict[str, Any]] | None:
        result = query(http, url, promql)
        return result if len(result) >= expected else None

    return poll(attempt, f"{expected} series of {promql}")


def post_message(http: httpx.Client, stack: LocalStack, user: str, text: str) -> None:
    url = f"{stack.url('ingress')}/twilio/messages"
    form = inbound_form(text, user=user)
    assert http.post(url, data=form, headers=signed(url, form)).status_code == 200


def records(http: httpx.Client, stack: LocalStack, kind: str, at_least: int) -> list[Any]:
    """The sandbox's records of one kind, long-polling (10 s) until there are enough."""
    answer = http.get(
        f"{stack.url('sandbox')}/_sandbox/twilio/{kind}",
        params={"min_count": at_least, "timeout": 10},
    )
    answer.raise_for_status()
    found: list[Any] = answer.json()
    assert len(found) >= at_least, (kind, found)
    return found


def failed_delivery_reported(http: httpx.Client, stack: LocalStack) -> None:
    """Wait until ingress took the sandbox's `failed` status callback."""
    seen = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        callbacks = records(http, stack, "status-callbacks", seen + 1)
        if any(c["status"] == "failed" and c.get("response_status") == 200 for c in callbacks):
            return
        seen = len(callbacks)
    raise TimeoutError("no failed status callback reached ingress")


def drive(http: httpx.Client, stack: LocalStack) -> None:
    """A message answered with a tool's help, a quota failure, a Twilio refusal, a failed
    delivery, and a handoff to a person and back."""
    sandbox = stack.url("sandbox")
    post_message(http, stack, USERS[0], "count me: where is lookup_order 1042")
    records(http, stack, "messages", 1)

    # OpenAI: insufficient_quota, not retried: the user gets an apology, the turn a dead letter.
    http.post(f"{sandbox}/_sandbox/openai/faults", json={"kind": "insufficient_quota"})
    post_message(http, stack, USERS[1], "no quota left")
    records(http, stack, "messages", 2)

    # Twilio refuses the reply for good (21211, invalid To): rejected and dead-lettered.
    fault = {"status": 400, "code": 21211, "to": USERS[2]}
    http.post(f"{sandbox}/_sandbox/twilio/faults", json=fault).raise_for_status()
    post_message(http, stack, USERS[2], "reply refused")
    records(http, stack, "rejected", 1)

    # Twilio accepts the reply, then reports it failed (63016: outside the 24-hour window).
    fault = {"delivery_error_code": 63016, "to": USERS[3]}
    http.post(f"{sandbox}/_sandbox/twilio/faults", json=fault).raise_for_status()
    post_message(http, stack, USERS[3], "reply undelivered")
    failed_delivery_reported(http, stack)

    handed_to_a_person_and_back(http, stack, USERS[4])


def handed_to_a_person_and_back(http: httpx.Client, stack: LocalStack, user: str) -> None:
    """The user asks for a person at the sandbox's Chatwoot, who answers, then resolves."""
    desk = f"{stack.url('sandbox')}/_sandbox/chatwoot/conversations"

    def said(text: str) -> bool | None:
        messages = records(http, stack, "messages", 1)
        return any(m["to"] == user and m["body"] == text for m in messages) or None

    post_message(http, stack, user, "person")
    (conversation,) = poll(lambda: http.get(desk).json() or None, "a desk conversation")
    reply = {"content": "A person answers.", "agent_name": "Ann"}
    http.post(f"{desk}/{conversation['id']}/reply", json=reply).raise_for_status()
    poll(lambda: said("A person answers."), "the person's reply")
    http.post(f"{desk}/{conversation['id']}/status", json={"status": "resolved"})
    back = ConversationSettings.model_fields["handoff_return_message"].default
    poll(lambda: said(back), "the hand-back")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    folder = tmp_path_factory.mktemp("observed")
    groups = render_rules(folder / "chart")
    rules = rules_file(groups, folder / "rules.yaml")
    log = (folder / "stack.log").open("a", buffering=1)
    ports = Ports.free()
    tools = example_tools_file(folder, f"http://127.0.0.1:{ports.sandbox}")
    stack = LocalStack(
        ports=ports,
        run_dir=folder / "run",
        environment={
            "PATH": "/usr/bin:/bin",
            "LOG_LEVEL": "INFO",
            "TOOLS_FILE": str(tools),
            **MODEL_LIFECYCLE,
        },
        sink=lambda name, line: log.write(f"{name:<12}| {line}\n"),
    )
    try:
        asyncio.run(stack.start())
        with prometheus(stack, folder, rules) as url, httpx.Client(timeout=30) as http:
            # Every service scraped once before any traffic: each counter's first step shows.
            query_until(http, url, "up == 1", expected=len(SERVICES))
            drive(http, stack)
            scrapes = {name: http.get(f"{stack.url(name)}/metrics").text for name in SERVICES}
            yield Observed(stack, url, groups, scrapes, folder / "stack.log")
    finally:
        asyncio.run(stack.stop())
        log.close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def test_prometheus_scrapes_the_services_and_sees_the_traffic(
    observed: Observed, http: httpx.Client
) -> None:
    url = observed.prometheus
    up = query_until(http, url, "up == 1", expected=len(SERVICES))
    assert {series["metric"]["job"] for series in up} == set(JOBS.values())
    accepted = query_until(
        http, url, 'chatbot_webhook_requests_total{outcome="accepted"} > 0', expected=2
    )
    assert {series["metric"]["route"] for series in accepted} == {
        "/twilio/messages",
        "/twilio/status",
    }
    handled = query_until(
        http, url, 'sum by (job) (chatbot_consumer_messages_total{outcome="ok"}) > 0', 2
    )
    assert {series["metric"]["job"] for series in handled} == {JOBS["conversation"], JOBS["sender"]}
    query_until(http, url, "chatbot_reply_latency_seconds_count > 0", 1)
    query_until(http, url, 'chatbot_llm_errors_total{error="insufficient_quota"} > 0', 1)
    query_until(http, url, 'chatbot_outbound_sends_total{outcome="rejected", code="21211"}', 1)
    query_until(http, url, 'chatbot_dlq_messages_total{reason="llm_failed"} > 0', 1)
    query_until(http, url, 'chatbot_dlq_messages_total{reason="twilio_rejected"} > 0', 1)
    failed = query_until(
        http, url, 'chatbot_delivery_statuses_total{status="failed"} > 0', expected=1
    )
    assert failed[0]["metric"]["error_code"] == "63016"
    delivered = query_until(
        http, url, 'chatbot_delivery_statuses_total{status="delivered", error_code=""} > 0', 1
    )
    assert delivered[0]["metric"]["job"] == JOBS["ingress"]
    lag = query_until(http, url, "chatbot_consumer_pending_messages", expected=2)
    assert {series["metric"]["consumer"] for series in lag} == {"conversation", "sender"}
    limits = query_until(http, url, "chatbot_consumer_max_in_flight_messages > 0", expected=2)
    assert {series["metric"]["consumer"] for series in limits} == {"conversation", "sender"}


def test_every_dashboard_query_runs_on_prometheus_and_shows_series(
    observed: Observed, http: httpx.Client
) -> None:
    for expr in dashboard_expressions():
        if expr.startswith("label_values("):
            continue  # Grafana's variable query, not PromQL
        promql = expr.replace("$namespace", NAMESPACE).replace("$__rate_interval", "1m")
        query_until(http, observed.prometheus, promql, expected=1)


def test_the_alert_rules_evaluate_and_the_quota_alert_fires(
    observed: Observed, http: httpx.Client
) -> None:
    url = observed.prometheus
    expected = {rule["alert"] for group in observed.rules for rule in group["rules"]}

    def evaluated() -> list[dict[str, Any]] | None:
        groups = http.get(f"{url}/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    rules = poll(evaluated, "every rule evaluated")
    assert {rule["name"] for rule in rules} == expected
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))

    def quota_alert() -> list[dict[str, Any]] | None:
        alerts: list[dict[str, Any]] = http.get(f"{url}/api/v1/alerts").json()["data"]["alerts"]
        firing = [a for a in alerts if a["state"] == "firing"]
        names = {a["labels"]["alertname"] for a in firing}
        return firing if "ChatbotOpenAIQuotaExhausted" in names else None

    firing = poll(quota_alert, "ChatbotOpenAIQuotaExhausted firing")
    (quota,) = [a for a in firing if a["labels"]["alertname"] == "ChatbotOpenAIQuotaExhausted"]
    assert quota["labels"]["severity"] == "critical"
    assert quota["labels"]["model"]
    assert quota["annotations"]["runbook_url"].endswith("#chatbotopenaiquotaexhausted")
    # Alerts with a `for` cannot fire this soon; only those without one may.
    assert {a["labels"]["alertname"] for a in firing} <= {
        "ChatbotOpenAIQuotaExhausted",
        "ChatbotDeadLetters",
        "ChatbotModelUnknown",
    }


def test_the_model_watch_logs_exports_and_alerts_a_shutdown_date_and_an_unknown_model(
    observed: Observed, http: httpx.Client
) -> None:
    url = observed.prometheus
    midnight = datetime(SHUTDOWN.year, SHUTDOWN.month, SHUTDOWN.day, tzinfo=UTC).timestamp()
    (gauge,) = query_until(http, url, "chatbot_model_shutdown_timestamp_seconds", expected=1)
    assert gauge["metric"]["model"] == DEFAULT_OPENAI_MODEL
    assert float(gauge["value"][1]) == midnight

    def alerts() -> dict[str, dict[str, Any]] | None:
        found = http.get(f"{url}/api/v1/alerts").json()["data"]["alerts"]
        named = {a["labels"]["alertname"]: a for a in found}
        wanted = ("ChatbotModelShutdownSoon", "ChatbotModelUnknown")
        return named if all(name in named for name in wanted) else None

    named = poll(alerts, "the model lifecycle alerts")
    soon = named["ChatbotModelShutdownSoon"]
    assert soon["state"] == "pending"  # `for: 15m`
    assert soon["labels"] == {
        "alertname": "ChatbotModelShutdownSoon",
        "model": DEFAULT_OPENAI_MODEL,
        "severity": "warning",
    }
    assert "ChatbotModelShutdownImminent" not in named
    unknown = named["ChatbotModelUnknown"]
    assert (unknown["state"], unknown["labels"]["model"]) == ("firing", UNKNOWN_MODEL)

    lines = [line.partition("| ")[2] for line in observed.log.read_text().splitlines()]
    logged = [json.loads(line) for line in lines if '"model"' in line and "model_watch" in line]
    levels = {(entry["level"], entry["model"]) for entry in logged}
    assert ("WARNING", DEFAULT_OPENAI_MODEL) in levels
    assert ("ERROR", UNKNOWN_MODEL) in levels
    (warning,) = [e for e in logged if e["level"] == "WARNING"]
    assert SHUTDOWN.isoformat() in warning["message"]


def sample_names(scrape: str) -> set[str]:
    return {
        sample.name
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
    }


def test_every_metric_the_dashboard_and_the_alerts_use_is_exported(observed: Observed) -> None:
    exported = set().union(*(sample_names(scrape) for scrape in observed.scrapes.values()))
    for source, expressions in (
        ("dashboard", dashboard_expressions()),
        ("alert rules", rule_expressions(observed.rules)),
    ):
        used = set().union(*(metric_names(expr) for expr in expressions)) - SYNTHETIC
        assert len(used) >= 15, (source, used)
        missing = used - exported
        assert not missing, f"the {source} use metrics no running service exports: {missing}"


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    labels: frozenset[str]
    has_samples: bool


def families(scrape: str) -> dict[str, Family]:
    """The metric families of one /metrics output, by their catalogue name."""
    found = {}
    for family in text_string_to_metric_families(scrape):
        # The text parser drops a counter's _total; the catalogue names it in full.
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        found[name] = Family(name, family.type, frozenset(labels), bool(family.samples))
    return found


def test_the_catalogue_lists_exactly_what_each_service_exports(observed: Observed) -> None:
    listed = catalogue()
    declared: set[str] = set()
    for service, scrape in observed.scrapes.items():
        exported = families(scrape)
        declared |= set(exported)
        in_use = {name for name, family in exported.items() if family.has_samples}
        for_service = {name for name, entry in listed.items() if service in entry.services}
        assert in_use <= for_service, (service, "not in the catalogue", in_use - for_service)
        assert for_service <= set(exported), (service, "not exported", for_service - set(exported))
        for name in in_use:
            assert exported[name].type == listed[name].type, (service, name)
            assert exported[name].labels == listed[name].labels, (service, name)
    assert declared == set(listed), declared ^ set(listed)


def test_promtool_accepts_each_services_metrics(observed: Observed) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: `make test-tools` installs Debian's prometheus package")
    for service, scrape in observed.scrapes.items():
        result = subprocess.run(
            [promtool, "check", "metrics"],
            input=scrape,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (service, result.stdout + result.stderr)


def test_no_label_carries_a_phone_number_or_a_message_id(observed: Observed) -> None:
    for service, scrape in observed.scrapes.items():
        for number in (*USERS, BUSINESS_NUMBER):
            assert number.removeprefix("whatsapp:+") not in scrape, service
        for family in text_string_to_metric_families(scrape):
            for sample in family.samples:
                for value in sample.labels.values():
                    assert not value.startswith(("SM", "MM", "whatsapp:")), (service, sample)
