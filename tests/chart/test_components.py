"""What tells the components apart is their values (public, internetEgress, extraVolumes...),
not their names: the same flag on another component gives it the same objects."""

from __future__ import annotations

from .helm import ChartCopies, Doc, by_kind, documents, named, pod_spec, scenario_file, template


def render(charts: ChartCopies, *sets: str) -> list[Doc]:
    result = template(
        "4", charts.offline, charts.home, values=[scenario_file("default")], sets=list(sets)
    )
    return documents(result.stdout)


def test_extra_volumes_are_mounted_after_tmp(charts: ChartCopies) -> None:
    docs = render(
        charts,
        "sender.extraVolumes[0].name=ca",
        "sender.extraVolumes[0].configMap.name=ca-bundle",
        "sender.extraVolumeMounts[0].name=ca",
        "sender.extraVolumeMounts[0].mountPath=/etc/ssl/ca",
    )
    spec = pod_spec(named(docs, "Deployment", "chatbot-sender"))
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "ca"]
    assert spec["volumes"][1]["configMap"] == {"name": "ca-bundle"}
    (container,) = spec["containers"]
    assert container["volumeMounts"][1] == {"name": "ca", "mountPath": "/etc/ssl/ca"}
    others = pod_spec(named(docs, "Deployment", "chatbot-ingress"))
    assert [v["name"] for v in others["volumes"]] == ["tmp"]


def test_network_policies_follow_the_flags(charts: ChartCopies) -> None:
    docs = render(
        charts,
        "ingress.internetEgress=true",
        "conversation.internetEgress=false",
        "sender.public=true",
        "networkPolicy.ingressFrom[0].podSelector.matchLabels.edge=yes",
    )
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "NetworkPolicy")}

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


def test_credentials_name_the_secret_keys_a_component_gets(charts: ChartCopies) -> None:
    docs = render(charts, "ingress.credentials={userKeySecret}", "ingress.containerPort=9000")
    deployment = named(docs, "Deployment", "chatbot-ingress")
    (container,) = pod_spec(deployment)["containers"]
    assert [entry["name"] for entry in container["env"]] == ["USER_KEY_SECRET"]
    assert container["ports"][0]["containerPort"] == 9000
    assert named(docs, "ConfigMap", "chatbot-ingress")["data"]["PORT"] == "9000"
