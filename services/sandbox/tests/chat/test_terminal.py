"""``make chat``: the terminal client against a running sandbox, in a subprocess."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from chatbot_devstack import BUSINESS_NUMBER, free_port
from chatbot_devstack.embedded import RunningSandbox, twilio_client
from chatbot_sandbox.chat.terminal import earlier_note

FakeIngress = Any  # chat/conftest.py


async def test_make_chat_sends_a_line_and_prints_the_reply_with_its_ticks(
    ingress: FakeIngress, chat_sandbox: RunningSandbox
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatbot_sandbox.chat.terminal",
        "--sandbox-url",
        chat_sandbox.base_url,
        "--user",
        "+1 555 000 7777",
        "--name",
        "Tess",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdin is not None
    process.stdin.write("hello terminal ✓\n".encode())
    await process.stdin.drain()
    process.stdin.close()  # piped input: it waits for the answer, then leaves

    form = await ingress.next_webhook()
    assert (form["From"], form["Body"], form["ProfileName"]) == (
        "whatsapp:+15550007777",
        "hello terminal ✓",
        "Tess",
    )
    async with twilio_client(chat_sandbox) as twilio:
        await twilio.messages.create_async(
            to="whatsapp:+15550007777",
            from_=BUSINESS_NUMBER,
            body="Echo #1: hello terminal ✓",
            status_callback=f"{ingress.url}/twilio/status",
        )
    async with asyncio.timeout(20):
        output, _ = await process.communicate()

    text = output.decode()
    assert process.returncode == 0, text
    assert "Chatting as Tess (+15550007777)" in text
    assert "model: sandbox-test-echo (the sandbox's echo responder, not a real model)" in text
    assert "chatbot: Echo #1: hello terminal ✓  ✓✓" in text


async def test_make_chat_says_what_to_do_when_nothing_runs() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatbot_sandbox.chat.terminal",
        "--sandbox-url",
        f"http://127.0.0.1:{free_port()}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(20):
        output, _ = await process.communicate()
    assert process.returncode == 1
    assert "Start the system first with `make run`" in output.decode()


@pytest.mark.parametrize(
    ("hidden", "note"),
    [
        (0, None),
        (-3, None),
        (1, "(1 earlier message not shown)"),
        (4, "(4 earlier messages not shown)"),
    ],
)
def test_make_chat_says_how_many_earlier_messages_it_does_not_show(
    hidden: int, note: str | None
) -> None:
    assert earlier_note(hidden) == note
