"""``make chat``: the chat page's conversation in a terminal, a client of the running sandbox.
A reply is printed once its ticks settle; piped input (``echo hi | make chat``) waits for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import httpx
from dotenv import dotenv_values

from chatbot_sandbox.chat.wire import (
    EVENTS_PATH,
    MESSAGES_PATH,
    normalise_number,
    read_events,
    read_path,
)

__all__ = ["earlier_note", "main"]

SETTLED = frozenset({"delivered", "read", "failed", "undelivered", "canceled"})
SETTLE_TIMEOUT = 2.0
"""Seconds a reply may wait for its delivery ticks before it is printed with what it has."""
ANSWER_TIMEOUT = 60.0
"""Seconds piped input waits, after its last line, for the answer."""
LOCAL_HELP = "/quit or Ctrl-D leaves this terminal."
_TICKS = {"sent": "✓", "delivered": "✓✓", "read": "✓✓"}
_SHOWN_HISTORY = 10
_KINDS = {
    "sandbox": "the sandbox's echo responder, not a real model",
    "openai": "OpenAI",
    "compatible": "an OpenAI-compatible server",
}


def earlier_note(hidden: int) -> str | None:
    """What stands for the history messages not shown (None when all are)."""
    if hidden <= 0:
        return None
    return f"({hidden} earlier message{'' if hidden == 1 else 's'} not shown)"


@dataclass
class _Reply:
    message: dict[str, Any]
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    read: asyncio.Event = field(default_factory=asyncio.Event)


class ChatClient:
    """One user's conversation with the running system, through the sandbox."""

    def __init__(
        self, client: httpx.AsyncClient, *, user: str, name: str | None, out: TextIO, colour: bool
    ) -> None:
        self._http = client
        self.user, self.name = user, name
        self._out, self._colour = out, colour
        self._replies: dict[str, _Reply] = {}
        self._printing: asyncio.Queue[_Reply | str] = asyncio.Queue()
        self._own_bodies: Counter[str] = Counter()
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        """The lines typed, then None: at the end of input, or when the stream ends."""
        self.answered = asyncio.Event()
        self.connected = asyncio.Event()
        self.stream_ended = asyncio.Event()
        self.twilio_real = False

    def say(self, text: str) -> None:
        """Write one line (the only place this client writes)."""
        self._out.write(text + "\n")
        self._out.flush()

    def _style(self, text: str, code: str) -> str:
        """ANSI colours on a terminal, nothing on a pipe or file."""
        return f"\033[{code}m{text}\033[0m" if self._colour else text

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
        kind = _KINDS.get(config["model_provider"], config["model_provider"])
        who = f"{self.name} ({self.user})" if self.name else self.user
        self.say(self._style(f"Chatting as {who} with chatbot {config['business_number']}", "1"))
        self.say(f"model: {config['model_label']} ({kind})")
        if self.twilio_real:
            real = "Real Twilio: replies go to real WhatsApp through Twilio and will not show here."
            self.say(self._style(real, "33"))
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
            self.say(f"  ! not sent: {answer.json().get('detail', answer.text)}")
            return False
        return True

    async def follow(self) -> None:
        """Read the event stream until it ends, queueing what is to be printed."""
        timeout = httpx.Timeout(10, read=None)
        params = {"user": self.user}
        try:
            async with self._http.stream("GET", EVENTS_PATH, params=params, timeout=timeout) as sse:
                async for name, data in read_events(sse.aiter_lines()):
                    self._on_event(name, data)
        except httpx.HTTPError:
            pass
        finally:
            self.stream_ended.set()
            self.connected.set()  # or rather, never will be
            self.inbox.put_nowait(None)

    def read_input(self, stream: TextIO) -> None:
        """Put the lines of ``stream`` in the inbox, read in a thread so no await blocks."""
        loop = asyncio.get_running_loop()

        def read() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the chat is over
                for line in stream:
                    loop.call_soon_threadsafe(self.inbox.put_nowait, line.rstrip("\r\n"))
                loop.call_soon_threadsafe(self.inbox.put_nowait, None)

        threading.Thread(target=read, name="chat-input", daemon=True).start()

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
        elif name == "status" and (reply := self._replies.get(data["id"])) is not None:
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
            # The user's own line is already on screen; one sent from elsewhere (the page, as
            # the same user) is shown.
            if self._own_bodies[message["body"]] > 0:
                self._own_bodies[message["body"]] -= 1
            else:
                self._printing.put_nowait(self._line(message))
            return
        reply = self._replies[message["id"]] = _Reply(message)
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


async def chat(
    base_url: str,
    *,
    user: str,
    name: str | None,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    """Run the conversation until /quit, end of input or the sandbox going away."""
    async with httpx.AsyncClient(base_url=base_url, timeout=20.0) as http:
        client = ChatClient(http, user=user, name=name, out=out, colour=out.isatty())
        if not await client.greet():
            return 1
        follower = asyncio.create_task(client.follow(), name="chat-follow")
        printer = asyncio.create_task(client.print_replies(), name="chat-print")
        sent = False
        try:
            await client.connected.wait()  # listen before speaking: no reply slips in between
            if client.stream_ended.is_set():
                client.say("chatbot-chat: the sandbox's event stream did not open")
                return 1
            client.read_input(stdin)
            while (line := await client.inbox.get()) is not None and line.strip() != "/quit":
                if line.strip() == "/help":
                    client.say(LOCAL_HELP)  # the bot's answer lists its own commands
                if line.strip():
                    sent = await client.send(line) or sent
            if client.stream_ended.is_set():
                client.say("chatbot-chat: the sandbox closed the stream: did `make run` stop?")
                return 1
            if sent and not client.twilio_real and not client.answered.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.answered.wait(), ANSWER_TIMEOUT)
            return 0
        finally:
            for task in (follower, printer):
                task.cancel()
            await asyncio.gather(follower, printer, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    """``chatbot-chat``: parse the options and chat until the user leaves."""
    parser = argparse.ArgumentParser(
        prog="chatbot-chat",
        description="Chat with the locally running chatbot (`make run`) from a terminal.",
    )
    parser.add_argument("--user", default="+15550001111", help="your WhatsApp number")
    parser.add_argument("--name", default="Ana", help="your WhatsApp profile name")
    parser.add_argument("--sandbox-url", help="the sandbox (default: SANDBOX_PORT, or .env's)")
    args = parser.parse_args(argv)
    try:
        user = normalise_number(args.user)
    except ValueError as exc:
        parser.error(f"--user: {exc}")
    port = os.environ.get("SANDBOX_PORT") or dotenv_values(".env").get("SANDBOX_PORT") or "8090"
    try:
        code = asyncio.run(
            chat(args.sandbox_url or f"http://127.0.0.1:{port}", user=user, name=args.name or None)
        )
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
