"""Inbound media in the fake Twilio: uploads, authenticated media URLs, the CDN redirect."""

from __future__ import annotations

import base64
import re

import httpx

from chatbot_devstack.embedded import RunningSandbox
from chatbot_sandbox.twilio.records import TwilioFault

AUDIO = b"OggS\x00\x02" + bytes(range(200))


def basic(sandbox: RunningSandbox) -> dict[str, str]:
    """The Authorization header of the sandbox's account."""
    settings = sandbox.settings
    pair = f"{settings.twilio_account_sid}:{settings.twilio_auth_token.get_secret_value()}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def local(url: str) -> str:
    """A media URL as announced (api.twilio.com), rewritten to the sandbox: its path."""
    assert url.startswith("https://api.twilio.com/2010-04-01/Accounts/")
    return url.removeprefix("https://api.twilio.com")


async def test_an_upload_is_served_behind_basic_auth_then_from_the_cdn(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        "/_sandbox/twilio/media",
        content=AUDIO,
        headers={"Content-Type": "audio/ogg; codecs=opus"},
    )
    assert answer.status_code == 201
    kept = answer.json()
    assert kept["message_sid"].startswith("MM")
    account, message = sandbox.settings.twilio_account_sid, kept["message_sid"]
    base = f"https://api.twilio.com/2010-04-01/Accounts/{account}/Messages/{message}/Media/"
    assert re.fullmatch("ME[0-9a-f]{32}", kept["url"].removeprefix(base))
    assert kept["content_type"] == "audio/ogg"

    refused = await http.get(local(kept["url"]))
    assert refused.status_code == 401
    assert refused.json()["code"] == 20003
    wrong = await http.get(local(kept["url"]), headers={"Authorization": "Basic eDp5"})
    assert wrong.status_code == 401

    redirect = await http.get(local(kept["url"]), headers=basic(sandbox))
    assert redirect.status_code == 307
    assert redirect.headers["location"] == kept["preview_url"]
    copy = await http.get(redirect.headers["location"])
    assert copy.status_code == 200
    assert copy.content == AUDIO
    assert copy.headers["content-type"] == "audio/ogg"

    fetches = [
        (f.stage, f.status_code, f.authorized, f.error_code)
        for f in sandbox.store.twilio_media_fetches.snapshot()
    ]
    assert fetches == [
        ("api", 401, False, 20003),
        ("api", 401, True, 20003),
        ("api", 307, True, None),
        ("cdn", 200, False, None),
    ]
    inspected = (await http.get("/_sandbox/twilio/media/fetches", params={"min_count": 4})).json()
    assert [f["stage"] for f in inspected] == ["api", "api", "api", "cdn"]


async def test_unknown_media_is_404_and_faults_apply(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    kept = (
        await http.post("/_sandbox/twilio/media", content=b"x", headers={"Content-Type": "a/b"})
    ).json()
    other_message = local(kept["url"]).replace(kept["message_sid"], "MM" + "0" * 32)
    missing = await http.get(other_message, headers=basic(sandbox))
    assert missing.status_code == 404
    assert missing.json()["code"] == 20404
    assert (await http.get("/_sandbox/twilio/cdn/nope")).status_code == 404

    sandbox.store.twilio_faults.append(
        TwilioFault(operation="media", status=503, code=20503, retry_after="1")
    )
    failed = await http.get(local(kept["url"]), headers=basic(sandbox))
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "1")
    again = await http.get(local(kept["url"]), headers=basic(sandbox))
    assert again.status_code == 307
