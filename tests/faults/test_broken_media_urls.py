"""Signed webhooks whose media URL breaks URL handling: an apology and a dead letter, no wedge.

A ``MediaUrl`` is whatever the webhook says. Some break the URL parser (bad punycode), the
rewriting to ``TWILIO_API_BASE_URL`` or the HTTP client (credentials in the URL); the exception
used to escape the download's error handling, fail the turn on every delivery and wedge that
user, with no dead letter. What must hold, for each URL, with and without a base URL: the
attachment's failure outcome (``media_unavailable``: the apology for the photo, and a dead
letter of the message, after one attempt), and the user's next message is answered.
"""

from __future__ import annotations

import contextlib

import pytest

from chatbot_conversation.replies import media_unavailable
from chatbot_devstack import inbound_form, user_number

from .conftest import SystemFactory
from .system import Outcome, System

pytestmark = pytest.mark.e2e

MEDIA_PATH = "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
BROKEN = {
    # Each breaks a different step (parsing, the host's IDNA decoding, the HTTP client).
    "bad punycode": f"https://xn--a.twilio.com{MEDIA_PATH}",
    "userinfo": f"https://u:p@api.twilio.com{MEDIA_PATH}",
    "unparsable userinfo": f"https://[::1]u:p@@{MEDIA_PATH}",
    "bad port": f"https://api.twilio.com:99999{MEDIA_PATH}",
}


def photo_form(url: str, user: str) -> dict[str, str]:
    """A photo without a caption: nothing else for the model to answer."""
    return inbound_form("", user=user) | {
        "NumMedia": "1",
        "MediaUrl0": url,
        "MediaContentType0": "image/jpeg",
    }


async def send_and_check(system: System, first_user: int) -> tuple[Outcome, list[str]]:
    """Send each broken URL from its own user, then a text from each; the problems found."""
    users = {name: user_number(first_user + i) for i, name in enumerate(BROKEN)}
    photos = {name: photo_form(url, users[name]) for name, url in BROKEN.items()}
    texts = {name: inbound_form(f"after {name}", user=users[name]) for name in BROKEN}
    for name in BROKEN:
        await system.deliver(photos[name])
    with contextlib.suppress(TimeoutError):
        await system.settle(timeout=20)
    # Each text after its photo's turn, so that each is a turn of its own.
    for name in BROKEN:
        await system.deliver(texts[name])
    with contextlib.suppress(TimeoutError):
        await system.settle(timeout=20)
    outcome = await system.outcome()
    letters = {d.original_id: d for d in outcome.dead_letters if d.service == "conversation"}
    problems = []
    for name, user in users.items():
        replies = [(r.in_reply_to, r.body) for r in outcome.replies if r.to == user]
        photo, text = photos[name]["MessageSid"], texts[name]["MessageSid"]
        answered = [sid for sids, _ in replies for sid in sids]
        if answered != [photo, text]:
            problems.append(f"{name}: answered {answered}, sent {[photo, text]}")
        elif replies[0][1] != media_unavailable("photo"):
            problems.append(f"{name}: the photo was answered {replies[0][1]!r}")
        letter = letters.get(photo)
        if letter is None or (letter.reason, letter.attempts) != ("media_unavailable", 1):
            problems.append(f"{name}: dead letter {letter}")
    return outcome, problems


async def test_media_urls_that_break_url_handling_end_in_an_apology_and_a_dead_letter(
    start_system: SystemFactory,
) -> None:
    async with start_system() as system:
        # As the stack runs: media URLs rewritten to the sandbox (TWILIO_API_BASE_URL).
        _, rewritten = await send_and_check(system, first_user=10)
        # As in production: no base URL, the URL itself is checked and fetched. Only the
        # conversation service changes; the sender still talks to the sandbox's Twilio. None
        # of these URLs may reach the network.
        conversation = system.stack.processes["conversation"]
        await system.terminate("conversation", grace=15)
        del conversation.spec.env["TWILIO_API_BASE_URL"]
        await system.restart("conversation")
        _, direct = await send_and_check(system, first_user=20)

    problems = [f"rewritten: {p}" for p in rewritten] + [f"direct: {p}" for p in direct]
    assert not problems, "\n".join(problems)
