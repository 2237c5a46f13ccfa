"""The operators' console against the whole running system, in a real browser.

An operator looks a user up, replays their dead letter, resets them, hands a user back and
erases one; no phone number shows but the one the operator typed. What each test does and how
it waits: docs/console.md (Tests).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from chatbot_devstack import LocalStack, inbound_form, signed, user_number

pytestmark = pytest.mark.e2e

USER = user_number(4545)
TYPED = "+1 555 000 4545"
"""The user's number as the operator types it; the page normalises it."""
SHOWN = "+15550004545"


class Outside:
    """The stack as the user's phone and Twilio see it: signed webhooks, the sandbox's records."""

    def __init__(self, stack: LocalStack, http: httpx.Client) -> None:
        self.stack = stack
        self.http = http

    def send(self, body: str) -> None:
        url = f"{self.stack.url('ingress')}/twilio/messages"
        form = inbound_form(body, user=USER)
        headers = signed(url, form, self.stack.env["TWILIO_AUTH_TOKEN"])
        answer = self.http.post(url, data=form, headers=headers)
        assert answer.status_code == 200, answer.text

    def replies(self, at_least: int) -> list[str]:
        """The bodies the sandbox's Twilio took for the user, once there are ``at_least``."""
        answer = self.http.get(
            f"{self.stack.url('sandbox')}/_sandbox/twilio/messages",
            params={"min_count": at_least, "timeout": 10},
            timeout=15,
        )
        answer.raise_for_status()
        bodies = [m["body"] for m in answer.json() if m["to"] == USER]
        assert len(bodies) >= at_least, bodies
        return bodies

    def openai_fault(self, **fault: Any) -> None:
        answer = self.http.post(f"{self.stack.url('sandbox')}/_sandbox/openai/faults", json=[fault])
        answer.raise_for_status()

    def console(self, path: str, **params: str) -> Any:
        """What the console's API answers a script (with the bearer token)."""
        answer = self.http.get(
            f"{self.stack.url('console')}/api/{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.stack.env['CONSOLE_TOKEN']}"},
        )
        answer.raise_for_status()
        return answer.json()

    def settled(self, check: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until ``check`` holds: the conversation service commits a turn's state after it
        sends the reply, and dead-letters a message after the apology."""
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "not settled"
            time.sleep(0.1)

    def user_mode(self) -> str | None:
        """The user's mode as the console's API has it; None while it knows no such user."""
        (found,) = self.console("users", phone=USER)["users"]
        if not found["known"]:
            return None
        mode: str = self.console(f"users/{found['user_key']}")["mode"]
        return mode


def log_in(page: Page, stack: LocalStack) -> None:
    """Log in as Olga: the page sends a stranger to the form first."""
    page.goto(stack.url("console") + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.fill("input[name=operator]", "Olga")
    page.fill("input[name=token]", stack.env["CONSOLE_TOKEN"])
    page.click("button[type=submit]")
    expect(page.locator("#operator")).to_have_text("Olga")


def look_up(page: Page, number: str) -> None:
    page.fill("#phone", number)
    page.press("#phone", "Enter")


def numbers_shown(page: Page) -> set[str]:
    """The digits of every phone number the page shows, with a + or without."""
    text = page.locator("body").inner_text()
    found = re.findall(r"\+[1-9][\d ().-]{5,}\d|\b\d{7,15}\b", text)
    return {re.sub(r"\D", "", number) for number in found}


def test_log_in_look_a_user_up_replay_their_dead_letter_and_reset_them(
    stack: LocalStack, page: Page, output_dir: Path
) -> None:
    with httpx.Client(timeout=15) as http:
        outside = Outside(stack, http)
        outside.send("hello console")
        assert outside.replies(1) == ["Echo #1: hello console"]
        outside.openai_fault(kind="insufficient_quota")
        outside.send("where is my parcel?")
        outside.replies(2)  # the apology
        outside.settled(lambda: bool(outside.console("dlq")["dead_letters"]))
        (letter,) = outside.console("dlq")["dead_letters"]
        assert letter["record"]["reason"] == "llm_failed"

        # The overview: the traffic and the dead letter, read from the streams.
        log_in(page, stack)
        expect(page.locator("[data-fact=inbound] dd")).not_to_have_text("0")
        expect(page.locator("[data-fact=dead-letters] dd")).to_have_text("llm_failed 1")
        expect(page.locator("[data-fact=handoff] dd")).to_contain_text("0 (0 waiting")

        # The user, by the number the operator types; their chat as the model has it.
        problem = page.locator("#lookup-problem")
        look_up(page, "555 000 4545")
        expect(problem).to_have_text("Give the number with its country code, e.g. +1 555 000 1111.")
        look_up(page, "+1 555 000 9999")
        expect(problem).to_have_text("Nobody has written from +15550009999.")
        look_up(page, TYPED)
        expect(page.locator("#user-title")).to_have_text(f"User {SHOWN}")
        expect(problem).to_be_hidden()
        expect(page.locator("[data-fact=mode] dd")).to_have_text("bot")
        expect(page.locator("[data-fact=messages] dd")).not_to_have_text("0")
        lines = page.locator("#transcript .line")
        expect(lines.first).to_have_attribute("data-role", "user")
        expect(lines.first.locator(".text")).to_have_text("hello console")
        expect(page.locator("#transcript .line.assistant .text").first).to_have_text(
            "Echo #1: hello console"
        )
        expect(page.locator("#handback")).to_be_hidden()

        # The dead letters: listed, filtered, and the user's opened from their panel.
        rows = page.locator("#letters tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("llm_failed")
        page.fill("#dlq-service", "sender")
        page.press("#dlq-service", "Enter")
        expect(rows).to_have_count(0)
        expect(page.locator("#letters-note")).to_have_text("None.")
        page.fill("#dlq-service", "")
        page.fill("#dlq-reason", "llm_failed")
        page.press("#dlq-reason", "Enter")
        expect(rows).to_have_count(1)

        page.locator("[data-fact=dead-letters] a").click()
        expect(page.locator("#letter-title")).to_have_text(f"Dead letter #{letter['id']}")
        expect(page.locator("#letter-record")).to_contain_text('"reason": "llm_failed"')
        expect(page.locator("#letter-record")).to_contain_text('"error_code": "insufficient_quota"')
        payload = page.locator("#letter-payload")
        expect(payload).to_contain_text('"body": "where is my parcel?"')
        expect(payload).to_contain_text(SHOWN)  # the number the operator typed
        expect(payload).to_contain_text("[number hidden]")  # the business's is not shown

        page.click("#replay")
        status = page.locator("#replay-status")
        expect(status).to_have_attribute("data-outcome", "replayed")
        expect(status).to_contain_text("Replayed")
        assert outside.replies(3)[-1] == "Echo #2: where is my parcel?"
        page.click("#replay")
        expect(status).to_have_attribute("data-outcome", "already_replayed")
        page.click("#user-refresh")
        expect(page.locator("#transcript .line.assistant .text").last).to_have_text(
            "Echo #2: where is my parcel?"
        )

        # Reset: queued in the user's order; their next message starts a new conversation.
        page.once("dialog", Dialog.accept)
        page.click("#reset")
        expect(page.locator("#user-status")).to_contain_text("Reset queued")
        outside.send("hello again")
        assert outside.replies(4)[-1] == "Echo #1: hello again"

        assert numbers_shown(page) <= {SHOWN[1:]}  # no number but the one typed

        page.screenshot(path=output_dir / "console.png", full_page=True)
        assert (output_dir / "console.png").stat().st_size > 0

        # The dead letter's own address, opened afresh: no number was typed, none is shown.
        page.goto(f"{stack.url('console')}/#dlq/{letter['id']}")
        page.reload()  # a new address that differs only in its # is not loaded anew
        expect(payload).to_contain_text('"body": "where is my parcel?"')
        expect(payload).to_contain_text('"from": "[number hidden]"')
        expect(payload).to_contain_text('"wa_id": "[number hidden]"')
        assert numbers_shown(page) == set()


def test_a_user_handed_to_a_person_is_shown_so_and_handed_back(
    stack: LocalStack, page: Page
) -> None:
    with httpx.Client(timeout=15) as http:
        outside = Outside(stack, http)
        outside.send("person")
        assert "passing you to a person" in outside.replies(1)[-1]
        outside.settled(lambda: outside.user_mode() == "handoff")

        log_in(page, stack)
        look_up(page, SHOWN)
        mode = page.locator("[data-fact=mode] dd")
        expect(mode).to_contain_text("handoff (keyword) since")
        expect(mode).to_contain_text("desk conversation")
        page.once("dialog", Dialog.accept)
        page.click("#handback")
        expect(page.locator("#user-status")).to_contain_text("Hand back queued")
        assert "back with the assistant" in outside.replies(2)[-1]
        outside.settled(lambda: outside.user_mode() == "bot")

        page.click("#user-refresh")
        expect(mode).to_have_text("bot")
        expect(page.locator("#handback")).to_be_hidden()
        assert numbers_shown(page) <= {SHOWN[1:]}

        page.click("text=Log out")
        expect(page).to_have_url(re.compile(r"/login$"))
        page.goto(stack.url("console") + "/")
        expect(page).to_have_url(re.compile(r"/login$"))


def test_an_erase_leaves_nothing_of_the_user_in_any_store_or_at_the_fake_openai(
    stack: LocalStack, page: Page
) -> None:
    with httpx.Client(timeout=15) as http:
        outside = Outside(stack, http)
        outside.send("my name is Ana")
        assert outside.replies(1) == ["Echo #1: my name is Ana"]
        outside.openai_fault(kind="insufficient_quota")
        outside.send("and my address is 1 Main St")
        outside.replies(2)
        outside.send("person")  # with a person: a desk contact too
        outside.settled(lambda: outside.user_mode() == "handoff")
        (found,) = outside.console("users", phone=USER)["users"]
        key = found["user_key"]
        view = outside.console(f"users/{key}")
        outside.settled(lambda: bool(outside.console(f"users/{key}")["dead_letters"]))
        conversation = view["conversation_id"]

        log_in(page, stack)
        look_up(page, TYPED)
        expect(page.locator("[data-fact=mode] dd")).to_contain_text("handoff")
        page.once("dialog", Dialog.accept)
        page.click("#erase")
        expect(page.locator("#user-status")).to_have_text("Erased.", timeout=20_000)
        erased = page.locator("#erased")
        for store, outcome in {
            "openai_conversation": "deleted",
            "desk_contact": "deleted",
            "CHAT_HANDOFFS": "deleted",
            "CHAT_INBOUND": "purged",
            "CHAT_OUTBOUND": "purged",
            "CHAT_EVENTS": "purged",
            "CHAT_DLQ": "deleted 1",
            "CHAT_CONVERSATIONS": "deleted",
        }.items():
            expect(erased.locator(f"li[data-store={store}]")).to_have_text(f"{store} {outcome}")
        expect(erased.locator("li[data-store=CHAT_DELIVERIES]")).to_contain_text("deleted")

        # Nothing of theirs left: the console finds nobody, and exports nothing.
        assert outside.console("users", phone=USER)["users"][0]["known"] is False
        gone = http.get(
            f"{stack.url('console')}/api/users/{key}/export",
            headers={"Authorization": f"Bearer {stack.env['CONSOLE_TOKEN']}"},
        )
        assert gone.status_code == 404, gone.text  # no state, message, record or dead letter
        at_openai = http.get(
            f"{stack.url('sandbox')}/v1/conversations/{conversation}/items",
            headers={"Authorization": "Bearer sandbox"},
        )
        assert at_openai.status_code == 404
        desk = http.get(f"{stack.url('sandbox')}/_sandbox/chatwoot/conversations").json()
        assert desk == []

        # And a new message from that number starts from nothing.
        outside.send("hello again")
        assert outside.replies(4)[-1] == "Echo #1: hello again"
