"""The sandbox's chat page against the whole running system, in a real browser.

A person opens the page, picks a number, writes, sees the answer arrive with its delivered
ticks, presses reset and sees the new conversation confirmed. Every step goes through the
real path: a Twilio-signed webhook to ingress, NATS, the conversation service and its
responder, the sender, the sandbox's Twilio and its status callbacks, and the page's event
stream. Playwright's `expect` waits for each state; nothing sleeps.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chatbot_devstack import LocalStack

pytestmark = pytest.mark.e2e

WAIT_MS = 15_000


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def test_send_see_the_delivered_reply_then_reset(
    stack: LocalStack, page: Page, output_dir: Path
) -> None:
    page.goto(stack.chat_url)
    expect(page.locator("#model-name")).to_have_text("sandbox-echo")
    expect(page.locator("#model-kind")).to_contain_text("not a real model")
    expect(page.locator("#twilio-banner")).to_be_hidden()

    # A number of one's own, typed the way people type them.
    page.fill("#new-number", "+1 555 000 4242")
    page.press("#new-number", "Enter")
    user = page.locator("button.user[data-number='+15550004242']")
    expect(user).to_have_attribute("aria-current", "true")

    page.fill("#text", "Hello from the browser")
    page.press("#text", "Enter")

    mine = page.locator("#thread .msg.mine").last
    expect(mine.locator(".text")).to_have_text("Hello from the browser")
    reply = page.locator("#thread .msg.theirs").last
    expect(reply).to_contain_text("Echo #1: Hello from the browser", timeout=WAIT_MS)
    # Delivered (grey) or already read (blue): two ticks, from the status callbacks.
    expect(reply.locator(".ticks")).to_have_text("✓✓", timeout=WAIT_MS)
    expect(reply).to_have_attribute("data-status", "read", timeout=WAIT_MS)
    expect(mine.locator(".ticks")).to_have_text("✓✓", timeout=WAIT_MS)

    page.click("#reset")
    expect(page.locator("#thread .msg.mine .text").last).to_have_text("/reset")
    confirmation = page.locator("#thread .msg.theirs").last
    expect(confirmation).to_contain_text("new conversation", timeout=WAIT_MS)
    expect(confirmation.locator(".ticks")).to_have_text("✓✓", timeout=WAIT_MS)

    # The next message starts the responder's count again: a new conversation indeed.
    page.fill("#text", "Anyone there?")
    page.press("#text", "Enter")
    expect(page.locator("#thread .msg.theirs").last).to_contain_text(
        "Echo #1: Anyone there?", timeout=WAIT_MS
    )
    expect(page.locator("#thread .msg.theirs").last.locator(".ticks")).to_have_text(
        "✓✓", timeout=WAIT_MS
    )
    expect(user).to_contain_text("Echo #1: Anyone there?")

    # A photo, as WhatsApp sends one: picked with the paperclip, captioned, then sent.
    expect(page.locator("#attach")).to_be_visible()
    expect(page.locator("#record")).to_be_visible()
    page.set_input_files(
        "#file",
        files=[
            {"name": "square.png", "mimeType": "image/png", "buffer": png(96, 96, (0, 168, 132))}
        ],
    )
    expect(page.locator("#pending img")).to_have_count(1)
    page.fill("#text", "A green square")
    page.press("#text", "Enter")
    expect(page.locator("#pending")).to_be_hidden()
    photo = page.locator("#thread .msg.mine").last
    expect(photo.locator(".text")).to_have_text("A green square")
    thumbnail = photo.locator(".attachment.photo img")
    expect(thumbnail).to_have_js_property("naturalWidth", 96)
    reply = page.locator("#thread .msg.theirs").last
    expect(reply).to_contain_text("Echo #2: A green square [image]", timeout=WAIT_MS)
    expect(reply.locator(".ticks")).to_have_text("✓✓", timeout=WAIT_MS)
    expect(user).to_contain_text("[image]")

    page.screenshot(path=output_dir / "chat-page.png")
    assert (output_dir / "chat-page.png").stat().st_size > 0


def test_play_both_sides_of_a_handoff_user_and_person(
    stack: LocalStack, page: Page, output_dir: Path
) -> None:
    page.goto(stack.chat_url)
    page.fill("#new-number", "+1 555 000 4343")
    page.press("#new-number", "Enter")
    page.fill("#text", "person")
    page.press("#text", "Enter")
    theirs = page.locator("#thread .msg.theirs")
    expect(theirs.last).to_contain_text("passing you to a person", timeout=WAIT_MS)
    page.fill("#text", "my parcel is late")
    page.press("#text", "Enter")

    # The person's side: the conversation the handoff opened, with its note and the message.
    page.click("#show-desk")
    item = page.locator("#desk-list .desk-item")
    expect(item).to_have_count(1, timeout=WAIT_MS)
    item.click()
    desk = page.locator("#desk-thread")
    expect(desk.locator(".desk-msg.note")).to_contain_text("The user asked for a person.")
    expect(desk.locator(".desk-msg.incoming").last).to_contain_text(
        "my parcel is late", timeout=WAIT_MS
    )
    page.fill("#desk-text", "It left our warehouse today.")
    page.press("#desk-text", "Enter")
    expect(theirs.last).to_contain_text("It left our warehouse today.", timeout=WAIT_MS)

    page.click("#desk-resolve")
    expect(theirs.last).to_contain_text("back with the assistant", timeout=WAIT_MS)
    page.screenshot(path=output_dir / "handoff.png")
    page.fill("#text", "thanks")
    page.press("#text", "Enter")
    expect(theirs.last).to_contain_text(": thanks", timeout=WAIT_MS)
