"""``make chat``: the chat page's conversation in a terminal, a client of the running sandbox.

A reply is printed once its ticks settle, or after a short wait. Piped input works too:
``echo hello | make chat`` sends the line and waits for the answer before leaving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import httpx

from chatbot_sandbox.chat.settings import ChatClientSettings
from chatbot_sandbox.chat.wire import (
    EVENTS_PATH,
    MESSAGES_PATH,
    normalise_number,
    read_events,
    read_path,
)

__all__ = ["LOCAL_HELP", "ChatClient", "earlier_note", "main", "sandbox_url"]

SETTLED = frozenset({"delivered", "read", "failed", "undelivered", "canceled"})
SETTLE_TIMEOUT = 2.0
"""Seconds a reply may wait for its delivery ticks before it is printed with what it has."""
ANSWER_TIMEOUT = 60.0
"""Seconds piped input waits, after its last line, for the answer."""
_TICKS = {"sent": "✓", "delivered": "✓✓", "read": "✓✓"}
_SHOWN_HISTORY = 10


LOCAL_HELP = "/quit or Ctrl-D leaves this terminal."


def earlier_note(hidden: int) -> str | None:
    """What stands for the history messages not shown (None when all are)."""
    if hidden <= 0:
        return None
    return f"({hidden} earlier message{'' if hidden == 1 else 's'} not shown)"


def sandbox_url() -> str:
    """Where ``make run`` put the sandbox: SANDBOX_PORT from the environment or .env."""
    return ChatClientSettings().sandbox_url


class _Style:
    """ANSI colours when writing to a terminal, nothing when writing to a pipe or file."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


@dataclass
class _Reply:
    message: dict[str, Any]
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    read: asyncio.Event = field(default_factory=asyncio.Event)


class ChatClient:
    """One user's conversation with the running system, through the sandbox."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        user: str,
        name: str | None,
        out: TextIO,
        colour: bool,
    ) -> None:
        self._http = client
        self.user = user
        self.name = name
        self._out = out
        self._style = _Style(colour)
        self._replies: dict[str, _Reply] = {}
        self._printing: asyncio.Queue[_Reply | str] = asyncio.Queue()
        self._own_bodies: Counter[str] = Counter()
        self.answered = asyncio.Event()
        self.connected = asyncio.Event()
        self.stream_ended = asyncio.Event()
        self.twilio_real = False

    def say(self, text: str) -> None:
        """Write one line (the only place this client writes)."""
        self._out.write(text + "\n")
        self._out.flush()

    async def greet(self) -> bool:
        """Check the sandbox answers and introduce the chat; False (with why) if it does not."""
        try:
            answer = await self._http.get("/_sandbox/chat/config")
        except httpx.HTTPError:
            self.say(
                f"chatbot-chat: nothing answers at {self._http.base_url}. Start the system "
                "first with `make run` (in another terminal), then run `make chat` again."
            )
            return False
        if answer.status_code != 200:
            self.say(
                f"chatbot-chat: {self._http.base_url} answered {answer.status_code}: it is "
                "not the chatbot sandbox. Is SANDBOX_PORT right?"
            )
            return False
        config = answer.json()
        self.twilio_real = bool(config["twilio_real"])
        kinds = {
            "sandbox": "the sandbox's echo responder, not a real model",
            "openai": "OpenAI",
            "compatible": "an OpenAI-compatible server",
        }
        kind = kinds.get(config["model_provider"], config["model_provider"])
        who = f"{self.name} ({self.user})" if self.name else self.user
        self.say(self._style(f"Chatting as {who} with chatbot {config['business_number']}", "1"))
        self.say(f"model: {config['model_label']} ({kind})")
        if config["twilio_real"]:
            self.say(
                self._style(
                    "Real Twilio: replies go to real WhatsApp through Twilio and will not show "
                    "here.",
                    "33",
                )
            )
        self.say(f"Type a message and press Enter. /reset starts over; {LOCAL_HELP}")
        return True

    async def send(self, body: str) -> bool:
        """Send one line as the user's WhatsApp message; False (and why) if it did not go."""
        self._own_bodies[body] += 1
        self.answered.clear()
        payload = {"user": self.user, "body": body, "profile_name": self.name}
        try:
            answer = await self._http.post(MESSAGES_PATH, json=payload)
        except httpx.HTTPError as exc:
            self.say(f"  ! not sent: the sandbox does not answer ({type(exc).__name__})")
            return False
        if answer.status_code >= 400:
            detail = answer.json().get("detail", answer.text)
            self.say(f"  ! not sent: {detail}")
            return False
        return True

    async def follow(self) -> None:
        """Read the event stream until it ends, queueing what is to be printed."""
        try:
            async with self._http.stream(
                "GET", EVENTS_PATH, params={"user": self.user}, timeout=httpx.Timeout(10, read=None)
            ) as stream:
                async for event in read_events(stream.aiter_lines()):
                    self._on_event(event.event, event.json())
        except httpx.HTTPError:
            pass
        finally:
            self.stream_ended.set()

    async def print_replies(self) -> None:
        """Print replies in order, each once its ticks settle (or after a short wait)."""
        while True:
            item = await self._printing.get()
            if isinstance(item, str):
                self.say(item)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(item.settled.wait(), SETTLE_TIMEOUT)
            if item.message["status"] == "delivered" and await self._mark_read(item):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(item.read.wait(), SETTLE_TIMEOUT)
            self.say(self._line(item.message))
            self.answered.set()

    async def _mark_read(self, reply: _Reply) -> bool:
        """Say the reply was shown, as WhatsApp does (blue ticks); whether a read will come."""
        try:
            answer = await self._http.post(read_path(reply.message["id"]))
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def _on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "snapshot":
            self._history(data["messages"])
            self.connected.set()
        elif name == "message":
            self._on_message(data)
        elif name == "status":
            reply = self._replies.get(data["id"])
            if reply is not None:
                reply.message.update(status=data["status"], error=data["error"])
                if data["status"] in SETTLED:
                    reply.settled.set()
                if data["status"] == "read":
                    reply.read.set()
        elif name == "typing":
            self._printing.put_nowait(self._style("chatbot is typing…", "2"))

    def _history(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        if note := earlier_note(len(messages) - _SHOWN_HISTORY):
            self.say(self._style(note, "2"))
        for message in messages[-_SHOWN_HISTORY:]:
            self.say(self._line(message))
        self.say(self._style("── the conversation so far; new messages below ──", "2"))

    def _on_message(self, message: dict[str, Any]) -> None:
        if message["direction"] == "in":
            # The user's own line is already on screen; a message sent from elsewhere (the
            # page, as the same user) is shown.
            if self._own_bodies[message["body"]] > 0:
                self._own_bodies[message["body"]] -= 1
            else:
                self._printing.put_nowait(self._line(message))
            return
        reply = _Reply(message)
        self._replies[message["id"]] = reply
        if message["status"] in SETTLED:
            reply.settled.set()
        self._printing.put_nowait(reply)

    def _line(self, message: dict[str, Any]) -> str:
        at = datetime.fromisoformat(message["at"]).astimezone().strftime("%H:%M")
        mine = message["direction"] == "in"
        who = self._style("you", "32") if mine else self._style("chatbot", "1;32")
        body = message["body"].replace("\n", "\n        ")
        status = message["status"]
        if status in {"failed", "undelivered", "canceled"}:
            ticks = self._style(f"! {message.get('error') or status}", "31")
        else:
            ticks = _TICKS.get(status, "…")
            if status == "read":
                ticks = self._style(ticks, "34")
        return f"{self._style(at, '2')} {who}: {body}  {ticks}"


async def _input_lines(stream: TextIO) -> AsyncIterator[str]:
    """Lines of ``stream`` without blocking the event loop (a terminal or a pipe)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    fd = stream.fileno()
    pending = bytearray()

    def readable() -> None:
        chunk = os.read(fd, 65536)
        if not chunk:
            loop.remove_reader(fd)
            if pending:
                queue.put_nowait(pending.decode(errors="replace"))
            queue.put_nowait(None)
            return
        pending.extend(chunk)
        while (end := pending.find(b"\n")) >= 0:
            queue.put_nowait(pending[:end].decode(errors="replace").rstrip("\r"))
            del pending[: end + 1]

    try:
        loop.add_reader(fd, readable)
    except (PermissionError, NotImplementedError):
        # A regular file cannot be watched: it is all there already, so read it at once.
        for text in stream.read().splitlines():
            yield text
        return
    try:
        while (line := await queue.get()) is not None:
            yield line
    finally:
        loop.remove_reader(fd)


async def chat(
    base_url: str, *, user: str, name: str | None, stdin: TextIO, out: TextIO, colour: bool
) -> int:
    """Run the conversation until /quit, end of input or the sandbox going away."""
    async with httpx.AsyncClient(base_url=base_url, timeout=20.0) as http:
        client = ChatClient(http, user=user, name=name, out=out, colour=colour)
        if not await client.greet():
            return 1
        follower = asyncio.create_task(client.follow(), name="chat-follow")
        printer = asyncio.create_task(client.print_replies(), name="chat-print")
        ended = asyncio.create_task(client.stream_ended.wait(), name="chat-ended")
        sent = False
        try:
            # Listen before speaking, so no reply can slip in between.
            connected = asyncio.create_task(client.connected.wait())
            await asyncio.wait({connected, ended}, return_when=asyncio.FIRST_COMPLETED)
            connected.cancel()
            if not client.connected.is_set():
                client.say("chatbot-chat: the sandbox's event stream did not open")
                return 1
            lines = _input_lines(stdin)
            while True:
                next_line = asyncio.ensure_future(anext(lines, None))
                done, _ = await asyncio.wait(
                    {next_line, ended}, return_when=asyncio.FIRST_COMPLETED
                )
                if ended in done:
                    next_line.cancel()
                    client.say("chatbot-chat: the sandbox closed the stream: did `make run` stop?")
                    return 1
                line = next_line.result()
                if line is None or line.strip() == "/quit":
                    break
                if line.strip() == "/help":
                    client.say(LOCAL_HELP)  # the bot's answer lists its own commands
                if line.strip():
                    sent = await client.send(line) or sent
            if sent and not client.twilio_real and not client.answered.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.answered.wait(), ANSWER_TIMEOUT)
            return 0
        finally:
            for task in (follower, printer, ended):
                task.cancel()
            await asyncio.gather(follower, printer, ended, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    """``chatbot-chat``: parse the options and chat until the user leaves."""
    parser = argparse.ArgumentParser(
        prog="chatbot-chat",
        description="Chat with the locally running chatbot (`make run`) from a terminal.",
    )
    parser.add_argument(
        "--user", default="+15550001111", help="your WhatsApp number (default: +15550001111)"
    )
    parser.add_argument("--name", default="Ana", help="your WhatsApp profile name")
    parser.add_argument(
        "--sandbox-url", default=None, help="the sandbox (default: 127.0.0.1:SANDBOX_PORT)"
    )
    args = parser.parse_args(argv)
    try:
        user = normalise_number(args.user)
    except ValueError as exc:
        parser.error(f"--user: {exc}")
    url = args.sandbox_url or sandbox_url()
    try:
        code = asyncio.run(
            chat(
                url,
                user=user,
                name=args.name or None,
                stdin=sys.stdin,
                out=sys.stdout,
                colour=sys.stdout.isatty(),
            )
        )
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
