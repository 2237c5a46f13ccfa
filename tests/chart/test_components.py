"""What tells the components apart is their values (public, internetEgress, extraVolumes...),
not their names: the same flag on another component gives it the same objects."""

from __future__ import annotations

from . import helm


def render(charts: helm.ChartCopies, *sets: str) -> list[helm.Doc]:
    result = helm.template(
        "4", charts.offline, charts.home, values=[helm.scenario_file("default")], sets=list(sets)
    )
    return helm.documents(result.stdout)


def test_extra_volumes_are_mounted_after_tmp(charts: helm.ChartCopies) -> None:
    docs = render(
        charts,
        "sender.extraVolumes[0].name=ca",
        "sender.extraVolumes[0].configMap.name=ca-bundle",
        "sender.extraVolumeMounts[0].name=ca",
        "sender.extraVolumeMounts[0].mountPath=/etc/ssl/ca",
    )
    spec = helm.pod_spec(helm.named(docs, "Deployment", "chatbot-sender"))
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "ca"]
    assert spec["volumes"][1]["configMap"] == {"name": "ca-bundle"}
    (container,) = spec["containers"]
    assert container["volumeMounts"][1] == {"name": "ca", "mountPath": "/etc/ssl/ca"}
    others = helm.pod_spec(helm.named(docs, "Deployment", "chatbot-ingress"))
    assert [v["name"] for v in others["volumes"]] == ["tmp"]


def test_network_policies_follow_the_flags(charts: helm.ChartCopies) -> None:
    docs = render(
        charts,
        "ingress.internetEgress=true",
        "conversation.internetEgress=false",
        "sender.public=true",
        "networkPolicy.ingressFrom[0].podSelector.matchLabels.edge=yes",
    )
    policies = {p["metadata"]["name"]: p["spec"] for p in helm.by_kind(docs, "NetworkPolicy")}

    def https_out(name: str) -> bool:
        rules = policies[f"chatbot-{name}"]["egress"]
        return any(port["port"] == 443 for rule in rules for port in rule.get("ports", []))

    assert https_out("ingress")
    assert not https_out("conversation")
    assert https_out("sender")
    (public,) = policies["chatbot-sender"]["ingress"]
    assert {"podSelector": {"matchLabels": {"edge": "yes"}}} in public["from"]
    (worker,) = policies["chatbot-conversation"]["ingress"]
    assert worker["from"] == [{"namespaceSelector": {}}]


def test_credentials_name_the_secret_keys_a_component_gets(charts: helm.ChartCopies) -> None:
    docs = render(charts, "ingress.credentials={userKeySecret}", "ingress.containerPort=9000")
    deployment = helm.named(docs, "Deployment", "chatbot-ingress")
    (container,) = helm.pod_spec(deployment)["containers"]
    assert [entry["name"] for entry in container["env"]] == ["USER_KEY_SECRET"]
    assert container["ports"][0]["containerPort"] == 9000
    assert helm.named(docs, "ConfigMap", "chatbot-ingress")["data"]["PORT"] == "9000"
