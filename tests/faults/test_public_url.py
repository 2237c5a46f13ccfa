"""The URL webhook signatures are checked on, against real ingress processes.

Twilio signs the exact URL it called. Taken from the request's own Host or X-Forwarded-*
headers, that URL is the client's to choose, and a webhook Twilio signed for another URL (say
another deployment's, with the same account) is taken here. So ingress refuses to start
without PUBLIC_BASE_URL while it checks signatures, unless PUBLIC_BASE_URL_FROM_REQUEST=true
says so explicitly; then it warns at start-up, and takes only an ``http`` or ``https`` URL
with a plain ``host[:port]`` from the headers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot_devstack import (
    AUTH_TOKEN,
    ManagedProcess,
    ProcessSpec,
    find_executable,
    free_port,
    inbound_form,
    nats_server_spec,
    signed,
)

pytestmark = pytest.mark.e2e

MESSAGES = "/twilio/messages"


class Lines:
    """What a process printed, line by line."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def all(self) -> list[str]:
        with self._lock:
            return list(self._lines)


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("public-url")
    port = free_port()
    server = ManagedProcess(nats_server_spec(port, directory / "jetstream"), Lines())
    server.start()
    try:
        asyncio.run(server.ready(10))
        yield f"nats://127.0.0.1:{port}"
    finally:
        asyncio.run(server.stop())


def ingress(nats_url: str, port: int, lines: Lines, **environment: str) -> ManagedProcess:
    env = {
        "NATS_URL": nats_url,
        "USER_KEY_SECRET": "public-url-secret",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PATH": "/usr/bin:/bin",
        **environment,
    }
    url = f"http://127.0.0.1:{port}/readyz"
    spec = ProcessSpec("ingress", [find_executable("chatbot-ingress")], env, ready_url=url)
    process = ManagedProcess(spec, lines)
    process.start()
    return process


async def ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


def warnings(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "WARNING":
            found.append(str(entry.get("message", "")))
    return found


@pytest.mark.parametrize(
    "environment",
    [{}, {"PUBLIC_BASE_URL": ""}, {"TRUST_PROXY_HEADERS": "true"}],
    ids=["unset", "empty", "proxy-trust-alone"],
)
async def test_without_a_public_url_ingress_refuses_to_start(
    nats_url: str, environment: dict[str, str]
) -> None:
    port, lines = free_port(), Lines()
    process = ingress(nats_url, port, lines, **environment)
    try:
        async with asyncio.timeout(20):
            while (code := await process.wait(0.1)) is None:
                assert not await ready(port), "ingress started without PUBLIC_BASE_URL"
    finally:
        await process.stop()
    assert code != 0
    output = "\n".join(lines.all())
    assert "PUBLIC_BASE_URL is required" in output
    assert "PUBLIC_BASE_URL_FROM_REQUEST=true" in output


@pytest.fixture(scope="module")
def from_request(nats_url: str) -> Iterator[tuple[str, Lines]]:
    """An ingress that signs the request's URL, trusting its proxy's X-Forwarded-* headers."""
    port, lines = free_port(), Lines()
    process = ingress(
        nats_url,
        port,
        lines,
        PUBLIC_BASE_URL_FROM_REQUEST="true",
        TRUST_PROXY_HEADERS="true",
    )
    try:
        asyncio.run(process.ready(30))
        yield f"http://127.0.0.1:{port}", lines
    finally:
        asyncio.run(process.stop())


def test_the_explicit_opt_in_is_warned_about_at_start(from_request: tuple[str, Lines]) -> None:
    _, lines = from_request
    (warning,) = [w for w in warnings(lines.all()) if "PUBLIC_BASE_URL" in w]
    assert "PUBLIC_BASE_URL_FROM_REQUEST" in warning
    assert "X-Forwarded-Proto/-Host" in warning


@pytest.mark.parametrize(
    ("proto", "host", "status"),
    [
        ("https", "public.example.org", 200),
        ("HTTP", "public.example.org:8443", 200),
        ("javascript", "public.example.org", 403),
        ("file", "public.example.org", 403),
        ("https", "public.example.org/other", 403),
        ("https", "attacker@public.example.org", 403),
    ],
)
async def test_only_an_http_url_from_the_forwarded_headers_is_signed(
    from_request: tuple[str, Lines],
    http: httpx.AsyncClient,
    proto: str,
    host: str,
    status: int,
) -> None:
    url, _ = from_request
    form = inbound_form("forwarded")
    # Signed for exactly the URL the headers name, as an attacker with a valid signature for
    # that URL would send it.
    signed_for = f"{proto.lower() if status == 200 else proto}://{host}{MESSAGES}"
    headers = signed(signed_for, form) | {"X-Forwarded-Proto": proto, "X-Forwarded-Host": host}
    answer = await http.post(f"{url}{MESSAGES}", data=form, headers=headers)
    assert answer.status_code == status, answer.text
