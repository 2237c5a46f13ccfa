"""PUBLIC_BASE_URL: the chart always gives ingress the URL Twilio signs, or refuses to render.

ingress will not start while it checks signatures without PUBLIC_BASE_URL (or the explicit
PUBLIC_BASE_URL_FROM_REQUEST=true opt-in): a URL rebuilt from the request's headers is the
client's to choose. The chart takes publicBaseUrl, else derives it from the Ingress's first
host (https when a TLS entry covers it); with neither it fails with a clear message, rather
than rendering pods that crash-loop.
"""

from __future__ import annotations

import os

import pytest

from chatbot_ingress.config import IngressSettings

from . import helm

NO_PUBLIC_URL = helm.scenario_file("default")
"""The least an install needs, minus publicBaseUrl (and no Ingress)."""
AN_INGRESS = [
    "ingress.ingress.enabled=true",
    "ingress.ingress.hosts[0].host=chat.example.org",
    "ingress.ingress.hosts[0].paths[0].path=/twilio/",
    "ingress.ingress.hosts[0].paths[0].pathType=Prefix",
]


def ingress_env(charts: helm.ChartCopies, *sets: str) -> dict[str, str]:
    result = helm.template(
        "4", charts.offline, charts.home, values=[NO_PUBLIC_URL], sets=["publicBaseUrl=", *sets]
    )
    docs = helm.documents(result.stdout)
    (deployment,) = [
        d
        for d in helm.by_kind(docs, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "ingress"
    ]
    return helm.container_env(docs, deployment)


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> IngressSettings:
    fields = {name.upper() for name in IngressSettings.model_fields}
    for name in list(os.environ):
        if name.upper() in fields:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return IngressSettings()


def test_without_a_public_url_or_an_ingress_host_the_chart_refuses_to_render(
    charts: helm.ChartCopies,
) -> None:
    result = helm.template(
        "4",
        charts.offline,
        charts.home,
        values=[NO_PUBLIC_URL],
        sets=["publicBaseUrl="],
        check=False,
    )
    assert result.returncode != 0, "rendered an ingress that would not start"
    assert "publicBaseUrl: set it to the https origin Twilio calls" in result.stderr
    assert "PUBLIC_BASE_URL_FROM_REQUEST" in result.stderr


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["publicBaseUrl=https://bot.example.net/"], "https://bot.example.net"),
        (
            [
                *AN_INGRESS,
                "ingress.ingress.tls[0].hosts[0]=chat.example.org",
                "ingress.ingress.tls[0].secretName=tls",
            ],
            "https://chat.example.org",
        ),
        (AN_INGRESS, "http://chat.example.org"),
        (["ingress.env.PUBLIC_BASE_URL=https://direct.example.org"], "https://direct.example.org"),
    ],
    ids=["given", "derived-tls", "derived-plain", "env-passthrough"],
)
def test_ingress_gets_the_public_url_it_signs(
    charts: helm.ChartCopies, monkeypatch: pytest.MonkeyPatch, sets: list[str], expected: str
) -> None:
    env = ingress_env(charts, *sets)
    assert env["PUBLIC_BASE_URL"] == expected
    settings = settings_from(env, monkeypatch)
    assert settings.public_base_url == expected
    assert not settings.signs_request_url


@pytest.mark.parametrize(
    "sets",
    [
        ["ingress.env.PUBLIC_BASE_URL_FROM_REQUEST=true"],
        ["ingress.settings.twilioValidateSignature=false"],
    ],
    ids=["explicit-opt-in", "signatures-off"],
)
def test_without_a_public_url_only_what_ingress_accepts_renders(
    charts: helm.ChartCopies, monkeypatch: pytest.MonkeyPatch, sets: list[str]
) -> None:
    env = ingress_env(charts, *sets)
    assert "PUBLIC_BASE_URL" not in env
    settings_from(env, monkeypatch)  # ingress starts with it (and warns)
