"""handoff: the settings reach conversation only; Chatwoot's token conversation only and its
webhook secret ingress only, the webhook desk's secret both (from an existing Secret or one the
chart renders, whose change rolls those pods); the desk's webhook route and egress, the handoff
alerts, and the checks that refuse a desk the service could not use. With desk none nothing of
it is rendered.

What every desk does is tested for each of ``DESKS``, as its :class:`Desk` describes it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from chatbot_conversation.config import ConversationSettings

from . import helm

CHATWOOT: helm.Doc = {
    "baseUrl": "https://desk.example.com",
    "accountId": 3,
    "inboxId": 12,
    "apiToken": "cw-api-token",
    "webhookSecret": "cw-webhook-secret",
}
HANDOFF: helm.Doc = {
    "desk": "chatwoot",
    "keywords": ["human", "Agent", "talk to a person"],
    "message": "A person will answer you here: stay with us.",
    "returnMessage": "You are back with the assistant.",
    "idleTimeout": 1800.5,
    "chatwoot": CHATWOOT,
}
SETTINGS = {
    "HANDOFF_DESK": "chatwoot",
    "HANDOFF_KEYWORDS": "human,Agent,talk to a person",
    "HANDOFF_MESSAGE": "A person will answer you here: stay with us.",
    "HANDOFF_RETURN_MESSAGE": "You are back with the assistant.",
    "HANDOFF_IDLE_TIMEOUT": "1800.5",
    "CHATWOOT_BASE_URL": "https://desk.example.com",
    "CHATWOOT_ACCOUNT_ID": "3",
    "CHATWOOT_INBOX_ID": "12",
}
ALERTS = {"ChatbotHandoffUnanswered", "ChatbotDeskErrors"}
# The generic webhook desk: its URL goes to conversation, its one secret (the HMAC key of both
# directions) to conversation and ingress.
WEBHOOK: helm.Doc = {
    "url": "https://helpdesk.example.net/hooks/chatbot?tenant=acme",
    "secret": "wh-signing-secret",
}
WEBHOOK_SETTINGS = {
    **{k: v for k, v in SETTINGS.items() if not k.startswith("CHATWOOT_")},
    "HANDOFF_DESK": "webhook",
    "HANDOFF_WEBHOOK_URL": "https://helpdesk.example.net/hooks/chatbot?tenant=acme",
}
DESK_SECRETS = ("chatbot-chatwoot", "chatbot-handoff-webhook")
CHECKSUMS = ("checksum/chatwoot-secret", "checksum/handoff-webhook-secret")


class Credential(NamedTuple):
    """One of a desk's secrets: its name in a component's credentials, its variable, its value
    in handoff.<desk>, and the components that read it."""

    name: str
    var: str
    value: str
    readers: tuple[str, ...]


@dataclass(frozen=True)
class Desk:
    """One desk as the chart takes it (handoff.desk <name>, its values in handoff.<name>), for
    the tests every desk passes."""

    name: str
    values: helm.Doc
    """handoff.<name>, complete."""
    settings: dict[str, str]
    """The variables of the handoff's and the desk's settings, as conversation gets them."""
    credentials: tuple[Credential, ...]
    required: dict[str, Any]
    """Its settings the service needs, each with a value that unsets it."""
    secret: str
    """The Secret the chart renders for it."""
    checksum: str
    """The pod annotation of that Secret's checksum, which rolls the pods that read it."""
    change: helm.Doc
    """A change of one of its settings."""
    existing: helm.Doc
    """handoff.<name> with an existing Secret (and its key names) instead of inline secrets."""
    taken: dict[str, Any]
    """What the service's settings take of its render (secrets as plain strings)."""
    variables: str
    """How its own variables' names begin."""

    @property
    def handoff(self) -> helm.Doc:
        """The handoff values that choose it (those of the other desk left as they are)."""
        return {**HANDOFF, "desk": self.name, self.name: self.values}

    @property
    def secrets(self) -> dict[str, str]:
        """What its rendered Secret holds."""
        return {c.var: self.values[c.value] for c in self.credentials}

    def env(self, component: str) -> dict[str, str]:
        """The handoff's variables the component reads (:func:`handoff_env`), values resolved:
        conversation the settings and the secrets it uses, ingress the webhooks' secret, sender
        nothing."""
        settings = self.settings if component == "conversation" else {}
        return settings | {c.var: self.values[c.value] for c in self.read_by(component)}

    def read_by(self, component: str) -> list[Credential]:
        return [c for c in self.credentials if component in c.readers]

    @property
    def other(self) -> Desk:
        (other,) = (desk for desk in DESKS if desk is not self)
        return other


CHATWOOT_DESK = Desk(
    name="chatwoot",
    values=CHATWOOT,
    settings=SETTINGS,
    credentials=(
        Credential("chatwootApiToken", "CHATWOOT_API_TOKEN", "apiToken", ("conversation",)),
        Credential(
            "chatwootWebhookSecret", "CHATWOOT_WEBHOOK_SECRET", "webhookSecret", ("ingress",)
        ),
    ),
    required={"baseUrl": "", "accountId": None, "inboxId": None},
    secret="chatbot-chatwoot",
    checksum="checksum/chatwoot-secret",
    change={"inboxId": 13},
    existing={
        **{k: v for k, v in CHATWOOT.items() if k not in ("apiToken", "webhookSecret")},
        "existingSecret": "desk-creds",
        "existingSecretKeys": {"apiToken": "token", "webhookSecret": "hook"},
    },
    taken={
        "chatwoot_base_url": "https://desk.example.com",
        "chatwoot_account_id": 3,
        "chatwoot_inbox_id": 12,
        "chatwoot_api_token": "cw-api-token",
        "handoff_webhook_url": None,
    },
    variables="CHATWOOT",
)
WEBHOOK_DESK = Desk(
    name="webhook",
    values=WEBHOOK,
    settings=WEBHOOK_SETTINGS,
    credentials=(
        Credential(
            "handoffWebhookSecret", "HANDOFF_WEBHOOK_SECRET", "secret", ("conversation", "ingress")
        ),
    ),
    required={"url": ""},
    secret="chatbot-handoff-webhook",
    checksum="checksum/handoff-webhook-secret",
    change={"url": "https://helpdesk.example.net/hooks/v2"},
    existing={
        "url": WEBHOOK["url"],
        "existingSecret": "helpdesk-creds",
        "existingSecretKeys": {"secret": "signing-key"},
    },
    taken={
        "handoff_webhook_url": WEBHOOK["url"],
        "handoff_webhook_secret": "wh-signing-secret",
        "chatwoot_base_url": None,
    },
    variables="HANDOFF_WEBHOOK",
)
DESKS = (CHATWOOT_DESK, WEBHOOK_DESK)

over_desks = pytest.mark.parametrize("desk", [pytest.param(d, id=d.name) for d in DESKS])


def deployment(docs: list[helm.Doc], component: str) -> helm.Doc:
    return helm.named(docs, "Deployment", f"chatbot-{component}")


def handoff_env(docs: list[helm.Doc], component: str) -> dict[str, str]:
    """The component's variables of the handoff (HANDOFF_*, CHATWOOT_*), values resolved: a
    rendered Secret's value, an existing Secret's placeholder."""
    env = helm.container_env(docs, deployment(docs, component))
    return {k: v for k, v in env.items() if k.startswith(("HANDOFF_", "CHATWOOT_"))}


def secret_refs(docs: list[helm.Doc], component: str) -> dict[str, dict[str, str]]:
    (container,) = helm.pod_spec(deployment(docs, component))["containers"]
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def desk_refs(docs: list[helm.Doc], component: str) -> dict[str, dict[str, str]]:
    """The Secrets and keys the component's variables of the handoff are read from."""
    refs = secret_refs(docs, component)
    return {k: v for k, v in refs.items() if k.startswith(("HANDOFF_", "CHATWOOT_"))}


def pod_annotations(docs: list[helm.Doc], component: str) -> dict[str, str]:
    found: dict[str, str] = deployment(docs, component)["spec"]["template"]["metadata"][
        "annotations"
    ]
    return found


def alerts(docs: list[helm.Doc]) -> dict[str, helm.Doc]:
    (rule,) = helm.by_kind(docs, "PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def ingress_paths(docs: list[helm.Doc]) -> dict[str, list[tuple[str, str]]]:
    """The Ingress's paths (and their types) by host."""
    (found,) = helm.by_kind(docs, "Ingress")
    return {
        rule["host"]: [(p["path"], p["pathType"]) for p in rule["http"]["paths"]]
        for rule in found["spec"]["rules"]
    }


def desk_url(handoff: helm.Doc) -> str:
    """Where conversation reaches the desk: Chatwoot's address or the webhook desk's URL."""
    url: str = {"chatwoot": handoff["chatwoot"]["baseUrl"], "webhook": handoff["webhook"]["url"]}[
        handoff["desk"]
    ]
    return url


def egress_ports(docs: list[helm.Doc], component: str) -> dict[Any, list[helm.Doc]]:
    """Port -> the peers its egress rules allow (an empty list: any destination)."""
    policy = helm.named(docs, "NetworkPolicy", f"chatbot-{component}")
    found: dict[Any, list[helm.Doc]] = {}
    for rule in policy["spec"]["egress"]:
        for port in rule.get("ports", []):
            found.setdefault(port["port"], []).extend(rule.get("to", []))
    return found


@pytest.mark.parametrize("major", helm.HELM_VERSIONS)
@over_desks
def test_the_settings_and_secrets_reach_only_the_pods_that_read_them(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk, major: str
) -> None:
    docs = helm.rendered(charts, tmp_path, {"handoff": desk.handoff}, major=major)
    for component in helm.COMPONENTS:
        # The other desk's values stay out, though handoff still carries them.
        assert handoff_env(docs, component) == desk.env(component), component
        # The settings sit in the ConfigMap, the secrets only in the desk's Secret.
        configmap = helm.named(docs, "ConfigMap", f"chatbot-{component}")["data"]
        assert not set(configmap) & set(desk.secrets), component
        assert desk_refs(docs, component) == {
            c.var: {"name": desk.secret, "key": c.var} for c in desk.read_by(component)
        }, component

    secret = helm.named(docs, "Secret", desk.secret)
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == desk.secrets
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "chatbot"
    assert {s["metadata"]["name"] for s in helm.by_kind(docs, "Secret")} == {"chatbot", desk.secret}
    # The main credentials Secret stays as it was.
    assert set(helm.named(docs, "Secret", "chatbot")["data"]) == {
        "OPENAI_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "USER_KEY_SECRET",
        "CONSOLE_TOKEN",
    }


@over_desks
def test_the_service_takes_the_settings_as_the_chart_renders_them(
    charts: helm.ChartCopies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, desk: Desk
) -> None:
    docs = helm.rendered(charts, tmp_path, {"handoff": desk.handoff})
    env = helm.container_env(docs, deployment(docs, "conversation"))
    for name in ConversationSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ConversationSettings()
    assert settings.handoff_desk == desk.name
    assert settings.handoff_keywords == frozenset({"human", "agent", "talk to a person"})
    assert settings.handoff_message == HANDOFF["message"]
    taken = {name: getattr(settings, name) for name in desk.taken}
    plain = {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in taken.items()}
    assert plain == desk.taken


def test_unset_keys_keep_the_service_defaults(charts: helm.ChartCopies, tmp_path: Path) -> None:
    """Empty keywords, messages and a null idle timeout are left out; the desk's own keys stay."""
    docs = helm.rendered(charts, tmp_path, {"handoff": {"desk": "chatwoot", "chatwoot": CHATWOOT}})
    assert set(handoff_env(docs, "conversation")) == {
        "HANDOFF_DESK",
        "CHATWOOT_BASE_URL",
        "CHATWOOT_ACCOUNT_ID",
        "CHATWOOT_INBOX_ID",
        "CHATWOOT_API_TOKEN",
    }


@over_desks
def test_an_existing_secret_is_read_with_its_key_names_and_not_rendered(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk
) -> None:
    values = {"handoff": {"desk": desk.name, desk.name: desk.existing}}
    docs = helm.rendered(charts, tmp_path, values)
    assert [s["metadata"]["name"] for s in helm.by_kind(docs, "Secret")] == ["chatbot"]
    secret, keys = desk.existing["existingSecret"], desk.existing["existingSecretKeys"]
    for component in helm.COMPONENTS:
        assert desk_refs(docs, component) == {
            c.var: {"name": secret, "key": keys[c.value]} for c in desk.read_by(component)
        }, component
        assert not set(pod_annotations(docs, component)) & set(CHECKSUMS), component


@over_desks
def test_a_change_rolls_the_pods_that_read_it(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk
) -> None:
    def snapshot(**values: Any) -> dict[str, dict[str, str]]:
        handoff = {**desk.handoff, desk.name: {**desk.values, **values}}
        docs = helm.rendered(charts, tmp_path, {"handoff": handoff})
        return {c: pod_annotations(docs, c) for c in helm.COMPONENTS}

    before = snapshot()
    assert desk.checksum not in before["sender"]
    for secret in (c.value for c in desk.credentials):
        rotated = snapshot(**{secret: "rotated"})
        for component in ("conversation", "ingress"):
            assert rotated[component][desk.checksum] != before[component][desk.checksum], secret
            assert rotated[component]["checksum/config"] == before[component]["checksum/config"]
        assert rotated["sender"] == before["sender"], secret
        assert rotated["console"] == before["console"], secret
    changed = snapshot(**desk.change)
    assert changed["conversation"]["checksum/config"] != before["conversation"]["checksum/config"]
    assert changed["conversation"][desk.checksum] == before["conversation"][desk.checksum]
    assert changed["ingress"] == before["ingress"]
    assert changed["sender"] == before["sender"]
    assert changed["console"] == before["console"]


@pytest.mark.parametrize(
    "scenario", [s for s in helm.SCENARIOS if helm.chart_values(s)["handoff"]["desk"] == "none"]
)
def test_no_desk_renders_nothing_of_the_handoff(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    docs = manifests[scenario]
    assert not [s for s in helm.by_kind(docs, "Secret") if s["metadata"]["name"] in DESK_SECRETS]
    for workload in helm.by_kind(docs, "Deployment"):
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        env = helm.container_env(docs, workload)
        assert not [k for k in env if k.startswith(("HANDOFF_", "CHATWOOT_"))], component
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert not set(annotations) & set(CHECKSUMS)
    for ingress in helm.by_kind(docs, "Ingress"):
        paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        assert not [p for p in paths if p.startswith("/desk/")]
    for rule in helm.by_kind(docs, "PrometheusRule"):
        names = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]}
        assert not names & ALERTS


def test_no_desk_has_no_handoff_alerts(charts: helm.ChartCopies, tmp_path: Path) -> None:
    docs = helm.rendered(
        charts,
        tmp_path,
        {
            "handoff": {"chatwoot": CHATWOOT, "webhook": WEBHOOK},
            "metrics": {"prometheusRule": {"enabled": True}},
        },
    )
    assert not set(alerts(docs)) & ALERTS
    for component in helm.COMPONENTS:
        assert handoff_env(docs, component) == {}, component
    assert not [s for s in helm.by_kind(docs, "Secret") if s["metadata"]["name"] in DESK_SECRETS]


def test_the_defaults_have_no_desk() -> None:
    handoff = helm.chart_values()["handoff"]
    assert handoff["desk"] == "none"
    assert handoff["chatwoot"]["existingSecret"] == ""
    assert handoff["chatwoot"]["apiToken"] == handoff["chatwoot"]["webhookSecret"] == ""
    assert handoff["webhook"]["url"] == ""
    assert handoff["webhook"]["existingSecret"] == handoff["webhook"]["secret"] == ""
    assert handoff["webhook"]["existingSecretKeys"] == {"secret": "HANDOFF_WEBHOOK_SECRET"}
    assert handoff["webhook"]["ingressRoute"] is True


@pytest.mark.parametrize("wait", [None, 1200], ids=["default", "1200"])
@over_desks
def test_the_alerts_follow_the_desk_and_the_threshold(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk, wait: int | None
) -> None:
    handoff = desk.handoff if wait is None else {**desk.handoff, "waitAlertAfter": wait}
    values = {"handoff": handoff, "metrics": {"prometheusRule": {"enabled": True}}}
    found = alerts(helm.rendered(charts, tmp_path, values))
    assert set(found) >= ALERTS
    unanswered = found["ChatbotHandoffUnanswered"]
    assert unanswered["expr"].strip().endswith(f"> {wait or 900}")
    assert "max(chatbot_handoff_oldest_wait_seconds{" in unanswered["expr"]
    assert unanswered["for"] == "5m"
    assert unanswered["annotations"]["runbook_url"] == "docs/runbooks.md#chatbothandoffunanswered"
    assert f"/desk/{desk.name}" in unanswered["annotations"]["runbook"]
    errors = found["ChatbotDeskErrors"]
    assert "sum(increase(chatbot_desk_errors_total{" in errors["expr"]
    assert "[10m])) > 0" in errors["expr"]
    assert f"The {desk.name} desk" in errors["annotations"]["summary"]
    assert desk.variables in errors["annotations"]["runbook"]
    assert desk.other.variables not in errors["annotations"]["runbook"]
    for rule in (unanswered, errors):
        assert 'namespace="chat"' in rule["expr"]
        assert "chatbot-conversation" in rule["expr"]


def test_the_production_alert_threshold_is_its_values(manifests: dict[str, list[helm.Doc]]) -> None:
    """tests/chart/alert-tests.yaml runs on the production render: its threshold is 600."""
    wait = helm.chart_values("production")["handoff"]["waitAlertAfter"]
    assert wait == 600
    expr = alerts(manifests["production"])["ChatbotHandoffUnanswered"]["expr"]
    assert expr.strip().endswith(f"> {wait}")


@over_desks
def test_the_ingress_routes_the_desks_webhook(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk
) -> None:
    route, other = (f"/desk/{desk.name}", "Exact"), desk.other
    hosts = {
        "a.example": ("/twilio/", "Prefix"),
        "b.example": ("/", "Prefix"),
        "c.example": ("/desk", "Prefix"),
        "d.example": ("/de", "Prefix"),
        "e.example": ("/desk/", "Prefix"),
        "f.example": (f"/desk/{other.name}", "Exact"),
    }
    ingress = {
        "ingress": {
            "enabled": True,
            "hosts": [
                {"host": host, "paths": [{"path": path, "pathType": kind}]}
                for host, (path, kind) in hosts.items()
            ],
            "tls": [{"secretName": "t", "hosts": ["a.example"]}],
        }
    }

    # The other desk's route stays its own: only the chosen desk's path is added.
    handoff = {**desk.handoff, other.name: other.values}
    docs = helm.rendered(charts, tmp_path, {"handoff": handoff, "ingress": ingress})
    assert ingress_paths(docs) == {
        "a.example": [hosts["a.example"], route],
        "b.example": [hosts["b.example"]],  # already routed
        "c.example": [hosts["c.example"]],  # already routed
        "d.example": [hosts["d.example"], route],
        "e.example": [hosts["e.example"]],  # already routed
        "f.example": [hosts["f.example"], route],
    }
    (backend,) = {
        p["backend"]["service"]["name"]
        for r in helm.by_kind(docs, "Ingress")[0]["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert backend == "chatbot-ingress"

    off = {**desk.handoff, desk.name: {**desk.values, "ingressRoute": False}}
    docs = helm.rendered(charts, tmp_path, {"handoff": off, "ingress": ingress})
    assert not [p for p in ingress_paths(docs)["a.example"] if p[0].startswith("/desk/")]
    # The other desk's switch does not turn this desk's route off.
    other_off = {**desk.handoff, other.name: {"ingressRoute": False}}
    docs = helm.rendered(charts, tmp_path, {"handoff": other_off, "ingress": ingress})
    assert route in ingress_paths(docs)["a.example"]


@pytest.mark.parametrize(
    "scenario", [s for s in helm.SCENARIOS if helm.chart_values(s)["handoff"]["desk"] != "none"]
)
def test_conversation_may_reach_the_desk(
    manifests: dict[str, list[helm.Doc]], scenario: str
) -> None:
    """The desk's port is open in conversation's egress: a desk (Chatwoot, or the webhook
    desk's URL) on the internet on 443 to networkPolicy.internetTo (internetEgress), one in the
    cluster by the scenario's extraEgress rule. ingress needs none: it only answers the desk's
    webhooks."""
    values = helm.chart_values(scenario)
    url = urlsplit(desk_url(values["handoff"]))
    port = url.port or {"https": 443, "http": 80}[url.scheme]
    ports = egress_ports(manifests[scenario], "conversation")
    assert port in ports, url.geturl()
    if port == 443 and not str(url.hostname).endswith((".svc", ".svc.cluster.local")):
        for peer in values["networkPolicy"]["internetTo"]:
            assert peer in ports[443]
    else:
        assert ports[port] == [
            peer for rule in values["networkPolicy"]["extraEgress"] for peer in rule["to"]
        ]


def test_an_in_cluster_desk_posts_to_ingress_through_the_policy(
    manifests: dict[str, list[helm.Doc]],
) -> None:
    """The handoff scenario's Chatwoot calls the ingress Service: ingressFrom admits it."""
    policy = helm.named(manifests["handoff"], "NetworkPolicy", "chatbot-ingress")
    (rule,) = policy["spec"]["ingress"]
    chatwoot = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "chatwoot"}}}
    assert chatwoot in rule["from"]
    assert helm.by_kind(manifests["handoff"], "Ingress") == []


@over_desks
def test_a_desk_on_the_internet_needs_no_extra_egress(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk
) -> None:
    docs = helm.rendered(charts, tmp_path, {"handoff": desk.handoff})
    internet = helm.chart_values()["networkPolicy"]["internetTo"]
    assert egress_ports(docs, "conversation")[443] == internet
    assert 443 not in egress_ports(docs, "ingress")


@pytest.mark.parametrize(
    ("desk", "value", "unset"),
    [
        pytest.param(desk, value, unset, id=f"{desk.name}-{value}")
        for desk in DESKS
        for value, unset in (desk.required | {c.value: "" for c in desk.credentials}).items()
    ],
)
def test_a_desk_without_a_value_the_service_needs_is_refused(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk, value: str, unset: Any
) -> None:
    handoff = {"desk": desk.name, desk.name: {**desk.values, value: unset}}
    source = " (or existingSecret)" if value not in desk.required else ""
    message = f"handoff.desk={desk.name} needs handoff.{desk.name}.{value}{source}"
    assert message in helm.refused(charts, tmp_path, {"handoff": handoff})


@pytest.mark.parametrize("chosen", ["this-desk", "no-desk", "the-other-desk"])
@over_desks
def test_two_secret_sources_are_refused_whichever_desk_is_chosen(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk, chosen: str
) -> None:
    both = {**desk.values, "existingSecret": "desk-creds"}
    handoff = {
        "this-desk": {"desk": desk.name},
        "no-desk": {},
        "the-other-desk": {"desk": desk.other.name, desk.other.name: desk.other.values},
    }[chosen] | {desk.name: both}
    names = " and ".join(c.var for c in desk.credentials)
    values = " and ".join(c.value for c in desk.credentials)
    assert (
        f"handoff.{desk.name}: set existingSecret (a Secret you manage, with {names}) or {values} "
        "(rendered into a Secret of the release), not both"
    ) in helm.refused(charts, tmp_path, {"handoff": handoff})


@pytest.mark.parametrize(
    ("handoff", "sets", "message"),
    [
        (
            {"desk": "chatwoot"},
            [],
            "needs handoff.chatwoot.baseUrl (Chatwoot's address, https://desk.example.com), "
            "handoff.chatwoot.accountId, handoff.chatwoot.inboxId (the API-channel inbox), "
            "handoff.chatwoot.apiToken (or existingSecret), "
            "handoff.chatwoot.webhookSecret (or existingSecret)",
        ),
        (
            {**HANDOFF, "idleTimeout": 1000, "waitAlertAfter": 900},
            ["metrics.prometheusRule.enabled=true"],
            "handoff.waitAlertAfter (900) plus the 5 minutes",
        ),
        ({"desk": "zendesk"}, [], "desk"),
        ({"keywords": ["human, agent"]}, [], "keywords"),
        ({"keywords": ["  "]}, [], "keywords"),
        ({"idleTimeout": 0}, [], "idleTimeout"),
        ({"waitAlertAfter": 0}, [], "waitAlertAfter"),
        ({"chatwoot": {"baseUrl": "desk.example.com"}}, [], "baseUrl"),
        ({"chatwoot": {"accountId": 0}}, [], "accountId"),
        ({"chatwoot": {"inboxId": "twelve"}}, [], "inboxId"),
        ({"chatwoot": {"token": "x"}}, [], "token"),
        ({"chatwoot": {"existingSecretKeys": {"apiToken": ""}}}, [], "apiToken"),
        ({"zendesk": {}}, [], "zendesk"),
    ],
)
def test_a_desk_the_service_could_not_use_is_refused(
    charts: helm.ChartCopies, tmp_path: Path, handoff: helm.Doc, sets: list[str], message: str
) -> None:
    assert message in helm.refused(charts, tmp_path, {"handoff": handoff}, *sets)


def test_an_idle_timeout_above_the_alert_is_accepted(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    values = {
        "handoff": {**HANDOFF, "idleTimeout": 1201, "waitAlertAfter": 900},
        "metrics": {"prometheusRule": {"enabled": True}},
    }
    assert "ChatbotHandoffUnanswered" in alerts(helm.rendered(charts, tmp_path, values))
    # Without the PrometheusRule the threshold is not used, so not checked.
    values = {"handoff": {**HANDOFF, "idleTimeout": 600, "waitAlertAfter": 900}}
    assert helm.rendered(charts, tmp_path, values)


@pytest.mark.parametrize("uses_handoff", [False, True], ids=["secrets", "uses-handoff"])
@over_desks
def test_the_components_flags_decide_who_reads_what(
    charts: helm.ChartCopies, tmp_path: Path, desk: Desk, uses_handoff: bool
) -> None:
    """As elsewhere in the chart, values tell the components apart: sender with conversation's
    credentials gets its secrets (and their checksum), with usesHandoff its settings too; ingress
    without the desk's credential (with the other desk's) gets nothing of it."""
    sender = ["twilioAccountSid", "twilioAuthToken", "userKeySecret"]
    sender += [c.name for c in desk.read_by("conversation")]
    ingress = ["twilioAuthToken", "userKeySecret"]
    ingress += [c.name for c in desk.other.read_by("ingress")]
    docs = helm.rendered(
        charts,
        tmp_path,
        {"handoff": desk.handoff},
        f"sender.usesHandoff={str(uses_handoff).lower()}",
        "sender.credentials={" + ",".join(sender) + "}",
        "ingress.credentials={" + ",".join(ingress) + "}",
    )
    conversation = desk.env("conversation")
    secrets = {k: v for k, v in conversation.items() if k in desk.secrets}
    assert handoff_env(docs, "sender") == (conversation if uses_handoff else secrets)
    assert desk.checksum in pod_annotations(docs, "sender")
    assert handoff_env(docs, "ingress") == {}
    assert desk.checksum not in pod_annotations(docs, "ingress")


# The two desks' values side by side, and the refusals of the generic webhook desk's own.


def test_switching_desks_moves_the_secrets_and_the_rollout(
    charts: helm.ChartCopies, tmp_path: Path
) -> None:
    """Both desks' values set: only handoff.desk's are rendered, read and hashed."""
    both = {**HANDOFF, "chatwoot": CHATWOOT, "webhook": WEBHOOK}
    webhook = helm.rendered(charts, tmp_path, {"handoff": {**both, "desk": "webhook"}})
    chatwoot = helm.rendered(charts, tmp_path, {"handoff": {**both, "desk": "chatwoot"}})
    assert {s["metadata"]["name"] for s in helm.by_kind(webhook, "Secret")} == {
        "chatbot",
        "chatbot-handoff-webhook",
    }
    assert {s["metadata"]["name"] for s in helm.by_kind(chatwoot, "Secret")} == {
        "chatbot",
        "chatbot-chatwoot",
    }
    assert set(handoff_env(webhook, "ingress")) == {"HANDOFF_WEBHOOK_SECRET"}
    assert set(handoff_env(chatwoot, "ingress")) == {"CHATWOOT_WEBHOOK_SECRET"}
    assert "HANDOFF_WEBHOOK_SECRET" not in handoff_env(chatwoot, "conversation")
    assert "CHATWOOT_API_TOKEN" not in handoff_env(webhook, "conversation")
    for component in ("conversation", "ingress"):
        assert set(pod_annotations(webhook, component)) & set(CHECKSUMS) == {
            "checksum/handoff-webhook-secret"
        }
        assert set(pod_annotations(chatwoot, component)) & set(CHECKSUMS) == {
            "checksum/chatwoot-secret"
        }


@pytest.mark.parametrize(
    ("handoff", "message"),
    [
        (
            {"desk": "webhook"},
            "handoff.desk=webhook needs handoff.webhook.url (where the desk takes our events, "
            "https://desk.example.com/chatbot), handoff.webhook.secret (or existingSecret)",
        ),
        # The schema: the service's URL pattern, and no stray keys.
        ({"webhook": {"url": "helpdesk.example.net/hooks"}}, "url"),
        ({"webhook": {"url": "ftp://helpdesk.example.net/hooks"}}, "url"),
        ({"webhook": {"url": "https://helpdesk.example.net?tenant=a"}}, "url"),
        ({"webhook": {"ingressRoute": "yes"}}, "ingressRoute"),
        ({"webhook": {"existingSecretKeys": {"secret": ""}}}, "secret"),
        ({"webhook": {"existingSecretKeys": {"apiToken": "x"}}}, "apiToken"),
        ({"webhook": {"token": "x"}}, "token"),
    ],
)
def test_a_webhook_desk_the_service_could_not_use_is_refused(
    charts: helm.ChartCopies, tmp_path: Path, handoff: helm.Doc, message: str
) -> None:
    assert message in helm.refused(charts, tmp_path, {"handoff": handoff})


def test_the_desks_share_their_secret_definitions() -> None:
    """What the two desks have alike (the route switch, an existing Secret and its key names,
    inline secrets) is one schema definition each, as the components' shared values are."""
    schema = json.loads((helm.CHART / "values.schema.json").read_text())
    desks = schema["properties"]["handoff"]["properties"]
    chatwoot, webhook = desks["chatwoot"]["properties"], desks["webhook"]["properties"]
    for key in ("ingressRoute", "existingSecret"):
        assert chatwoot[key] == webhook[key], key
        assert "$ref" in chatwoot[key], key
    keys = [
        ref
        for desk in (chatwoot, webhook)
        for ref in desk["existingSecretKeys"]["properties"].values()
    ]
    assert len(keys) == 3
    assert all(ref == {"$ref": "#/definitions/deskSecretKey"} for ref in keys)
    inline = [chatwoot["apiToken"], chatwoot["webhookSecret"], webhook["secret"]]
    assert all(ref == {"$ref": "#/definitions/deskSecretValue"} for ref in inline)
    assert desks["desk"]["enum"] == ["none", "chatwoot", "webhook"]
    credentials = schema["definitions"]["credentials"]["items"]["enum"]
    assert {"chatwootApiToken", "chatwootWebhookSecret", "handoffWebhookSecret"} <= set(credentials)
