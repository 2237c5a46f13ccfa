"""Only loopback pages drive the sandbox: another Host (DNS rebinding) or Origin is refused."""

from __future__ import annotations

import httpx
import pytest

from chatbot_devstack.embedded import RunningSandbox


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8090", "10.0.0.8"])
async def test_a_host_that_is_not_loopback_is_refused(
    sandbox: RunningSandbox, http: httpx.AsyncClient, host: str
) -> None:
    answer = await http.get("/_sandbox/twilio/messages", headers={"Host": host})
    assert answer.status_code == 400
    assert (await http.get("/_sandbox/twilio/messages")).status_code == 200


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://evil.example", 403),
        ("null", 403),
        ("http://localhost:1234", 201),
        ("http://127.0.0.1:8090", 201),
    ],
)
async def test_a_change_from_another_origin_is_refused(
    sandbox: RunningSandbox, http: httpx.AsyncClient, origin: str, status: int
) -> None:
    fault = {"to": "whatsapp:+15550001111"}
    answer = await http.post("/_sandbox/twilio/faults", json=fault, headers={"Origin": origin})
    assert answer.status_code == status


async def test_reads_and_origin_less_clients_are_not_affected(http: httpx.AsyncClient) -> None:
    cross_site_read = await http.get("/_sandbox/info", headers={"Origin": "http://evil.example"})
    assert cross_site_read.status_code == 200  # no CORS header: the page cannot read it
    assert "access-control-allow-origin" not in cross_site_read.headers
    no_origin = await http.post("/_sandbox/twilio/faults", json={"to": "whatsapp:+15550001111"})
    assert no_origin.status_code == 201  # the SDKs send no Origin
