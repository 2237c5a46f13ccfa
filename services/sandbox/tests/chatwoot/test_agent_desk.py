"""The chat page's agent desk, in a real browser: a person answers a handed-over user.

The conversation is opened through the fake Chatwoot's API as the conversation service opens
it; the page shows it live, and the person's reply and status change go through the sandbox's
agent side, which posts the signed webhooks ingress would take. The browser is Debian's
chromium driven by Playwright (never Playwright's own download), as in tests/browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from chatbot_devstack.embedded import RunningSandbox

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[4] / "test-output" / "browser"
"""Screenshots land here, beside tests/browser's (git-ignored)."""
USER = "+15550001111"


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium package")
    return CHROMIUM


@pytest.fixture
def output_dir() -> Path:
    """Where a test saves what a person would look at."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture
async def page(chromium: Path) -> AsyncIterator[Page]:
    """A fresh page of headless chromium at a desktop size; its errors fail the test."""
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium))
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
        finally:
            await browser.close()
    assert errors == [], f"errors on the page: {errors}"


async def _hand_over(api: httpx.AsyncClient) -> None:
    """What the conversation service does for a user who asks for a person."""
    contact = await api.post(
        "/contacts",
        json={
            "name": "Ann",
            "phone_number": USER,
            "identifier": "uk_ann",
            "inbox_id": 1,
            "source_id": USER.removeprefix("+"),
        },
    )
    body = {
        "source_id": USER.removeprefix("+"),
        "inbox_id": 1,
        "contact_id": contact.json()["payload"]["contact"]["id"],
        "status": "open",
        "custom_attributes": {"chatbot_user": "uk_ann"},
    }
    assert (await api.post("/conversations", json=body)).json()["id"] == 1
    for message in (
        {"content": "I want a person", "message_type": "incoming", "source_id": "SM1"},
        {"content": "Asked for a person.", "message_type": "outgoing", "private": True},
    ):
        assert (await api.post("/conversations/1/messages", json=message)).status_code == 200


async def test_an_agent_answers_and_resolves_from_the_page(
    hooked: RunningSandbox,
    hooked_api: httpx.AsyncClient,
    receiver: Any,
    page: Page,
    output_dir: Path,
) -> None:
    await _hand_over(hooked_api)
    await receiver.next_events(2)  # the user's message and the note

    await page.goto(hooked.base_url)
    await expect(page.locator("#desk-count")).to_have_text("1")
    await page.click("#show-desk")
    item = page.locator("#desk-list .desk-item")
    await expect(item).to_have_count(1)
    await expect(item.locator(".user-name")).to_have_text("Ann")
    await expect(item.locator(".desk-status")).to_have_text("open")
    await expect(item.locator(".desk-line").last).to_have_text(
        "Private note · Chatbot Integration: Asked for a person."
    )
    thread = page.locator("#desk-thread")
    await expect(thread.locator(".desk-msg.note")).to_contain_text("Asked for a person.")

    # The user writes again: the desk shows it without a reload.
    more = {"content": "hello?", "message_type": "incoming", "source_id": "SM2"}
    await hooked_api.post("/conversations/1/messages", json=more)
    await expect(thread.locator(".desk-msg.incoming").last).to_contain_text("hello?")
    await receiver.next_events(1)

    await page.fill("#desk-text", "Hi Ann, a person here.")
    await page.press("#desk-text", "Enter")
    await expect(thread.locator(".desk-msg.outgoing").last).to_contain_text(
        "Hi Ann, a person here."
    )
    await page.click("#desk-resolve")
    await expect(item.locator(".desk-status")).to_have_text("resolved")
    await expect(page.locator("#desk-resolve")).to_be_disabled()
    await expect(page.locator("#desk-count")).to_be_hidden()
    await page.screenshot(path=output_dir / "agent-desk.png")

    conversation = hooked.store.chatwoot.conversations[1]
    reply = conversation.messages[-1]
    assert (reply.message_type, reply.private, reply.content) == (
        "outgoing",
        False,
        "Hi Ann, a person here.",
    )
    assert conversation.status == "resolved"
    # Signed (next_events checks), in order: what ingress takes from the desk.
    created, changed, _ = await receiver.next_events(3)
    assert (created["event"], created["message_type"], created["private"]) == (
        "message_created",
        "outgoing",
        False,
    )
    assert created["sender"]["type"] == "user"
    assert created["conversation"]["custom_attributes"] == {"chatbot_user": "uk_ann"}
    assert (changed["event"], changed["status"]) == ("conversation_status_changed", "resolved")
