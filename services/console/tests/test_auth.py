"""Who may use the console: the bearer token for the API, a login and a session for the page,
CSRF on every change the page asks for, and failed logins counted and throttled."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from chatbot_console.config import ConsoleSettings

from .conftest import KEY, TOKEN, serving


def logins(outcome: str) -> float:
    return REGISTRY.get_sample_value("chatbot_console_logins_total", {"outcome": outcome}) or 0.0


async def login_form(client: httpx.AsyncClient) -> str:
    """The login form's CSRF token (the session cookie is kept by the client)."""
    page = await client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def anonymous(console: httpx.AsyncClient) -> httpx.AsyncClient:
    """The console's client without its bearer token."""
    del console.headers["Authorization"]
    return console


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
async def test_the_api_without_the_token_is_401(
    anonymous: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for answer in (
        await anonymous.get(f"/api/users/{KEY}", headers=headers),
        await anonymous.get("/api/dlq", headers=headers),
        await anonymous.post(f"/api/users/{KEY}/reset", headers=headers),
    ):
        assert answer.status_code == 401


async def test_a_login_makes_a_strict_httponly_session_that_needs_csrf_to_change_anything(
    anonymous: httpx.AsyncClient,
) -> None:
    assert (await anonymous.get("/")).headers["location"] == "/login"
    csrf = await login_form(anonymous)
    ok = logins("ok")
    answer = await anonymous.post("/login", data={"operator": "Olga", "token": TOKEN, "csrf": csrf})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" in cookie
    assert logins("ok") == ok + 1

    session = (await anonymous.get("/session")).json()
    assert session["operator"] == "Olga"
    assert (await anonymous.get(f"/api/users/{'0' * 32}")).status_code == 404  # in: no 401
    refused = await anonymous.post(f"/api/users/{KEY}/reset")
    assert refused.status_code == 403
    wrong = await anonymous.post(f"/api/users/{KEY}/reset", headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    taken = await anonymous.post(
        f"/api/users/{KEY}/reset", headers={"X-CSRF-Token": session["csrf"]}
    )
    assert taken.status_code == 202

    out = await anonymous.post("/logout", data={"csrf": session["csrf"]})
    assert out.status_code == 303
    assert (await anonymous.get(f"/api/users/{KEY}")).status_code == 401


async def test_a_login_without_its_csrf_token_is_refused(anonymous: httpx.AsyncClient) -> None:
    await login_form(anonymous)
    answer = await anonymous.post(
        "/login", data={"operator": "Mallory", "token": TOKEN, "csrf": "forged"}
    )
    assert answer.status_code == 403
    assert (await anonymous.get("/session")).json() == {}


async def test_failed_logins_are_counted_and_then_throttled(anonymous: httpx.AsyncClient) -> None:
    csrf = await login_form(anonymous)
    refused, throttled = logins("refused"), logins("throttled")
    statuses = [
        (
            await anonymous.post(
                "/login", data={"operator": "Mallory", "token": f"guess-{n}", "csrf": csrf}
            )
        ).status_code
        for n in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    right = await anonymous.post("/login", data={"operator": "Olga", "token": TOKEN, "csrf": csrf})
    assert right.status_code == 429  # even the right token waits
    assert (logins("refused"), logins("throttled")) == (refused + 5, throttled + 2)


def test_the_console_needs_a_long_token() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        ConsoleSettings(user_key_secret="s", console_token="short")
    with pytest.raises(ValueError, match="console_token"):
        ConsoleSettings(user_key_secret="s")


async def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(
    nats_server: Any, sandbox: Any, js: Any
) -> None:
    settings = ConsoleSettings(
        nats_url=nats_server.url,
        user_key_secret="test-user-key-secret",
        console_token=TOKEN,
        console_trusted_proxies="127.0.0.1,10.0.0.0/8",
    )
    async with serving(settings, peer=("10.1.2.3", 1234)) as client:  # the Ingress's pod
        csrf = await login_form(client)

        async def attempt(forwarded_for: str, token: str) -> int:
            data = {"operator": "x", "token": token, "csrf": csrf}
            headers = {"X-Forwarded-For": forwarded_for}
            return (await client.post("/login", data=data, headers=headers)).status_code

        assert [await attempt("203.0.113.9", "guess") for _ in range(6)] == [401] * 5 + [429]
        assert await attempt("198.51.100.7", TOKEN) == 303  # another client is not locked out
