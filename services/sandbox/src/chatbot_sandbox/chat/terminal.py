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
from collections.abc import Container
from datetime import datetime
from typing import Any, TextIO

import httpx
from dotenv import dotenv_values

from chatbot_sandbox.chat import wire

__all__ = ["earlier_note", "main"]

FAILED = frozenset({"failed", "undelivered", "canceled"})
SETTLED = FAILED | {"delivered", "read"}
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


class ChatClient:
    """One user's conversation with the running system, through the sandbox."""

    def __init__(self, http: httpx.AsyncClient, user: str, name: str | None, out: TextIO) -> None:
        self._http, self._user, self._name, self._out = http, user, name, out
        self._colour = out.isatty()
        self._twilio_real = False
        self._replies: dict[str, dict[str, Any]] = {}  # by id, their status kept up to date
        self._status_moved = asyncio.Condition()
        self._printing: asyncio.Queue[dict[str, Any] | str] = asyncio.Queue()  # replies, lines
        self._own_bodies = Counter[str]()  # sent from here, so already on screen
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        """The lines typed, then None: at the end of input, or when the stream ends."""
        self._answered = asyncio.Event()
        self._connected = asyncio.Event()

    async def run(self, stdin: TextIO) -> int:
        """Chat until /quit, end of input or the sandbox going away; the exit status."""
        if not await self._greet():
            return 1
        follower = asyncio.create_task(self._follow())
        printer = asyncio.create_task(self._print_replies())
        try:
            await self._connected.wait()  # listen before speaking: no reply slips in between
            if follower.done():
                self._say("chatbot-chat: the sandbox's event stream did not open")
                return 1
            self._read_input(stdin)
            sent = False
            while (line := await self._inbox.get()) is not None and line.strip() != "/quit":
                if line.strip() == "/help":
                    self._say(LOCAL_HELP)  # the bot's answer lists its own commands
                if line.strip():
                    sent = await self._send(line) or sent
            if follower.done():
                self._say("chatbot-chat: the sandbox closed the stream: did `make run` stop?")
                return 1
            if sent and not self._twilio_real and not self._answered.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._answered.wait(), ANSWER_TIMEOUT)
            return 0
        finally:
            for task in (follower, printer):
                task.cancel()
            await asyncio.gather(follower, printer, return_exceptions=True)

    def _say(self, text: str) -> None:
        """Write one line (the only place this client writes)."""
        self._out.write(text + "\n")
        self._out.flush()

    def _style(self, text: str, code: str) -> str:
        """ANSI colours on a terminal, nothing on a pipe or file."""
        return f"\033[{code}m{text}\033[0m" if self._colour else text

    async def _greet(self) -> bool:
        """Check the sandbox answers and introduce the chat; False (with why) if it does not."""
        try:
            answer = await self._http.get("/_sandbox/chat/config")
        except httpx.HTTPError:
            self._say(
                f"chatbot-chat: nothing answers at {self._http.base_url}. Start the system "
                "first with `make run` (in another terminal), then run `make chat` again."
            )
            return False
        if answer.status_code != 200:
            self._say(
                f"chatbot-chat: {self._http.base_url} answered {answer.status_code}: it is "
                "not the chatbot sandbox. Is SANDBOX_PORT right?"
            )
            return False
        config = answer.json()
        self._twilio_real = bool(config["twilio_real"])
        kind = _KINDS.get(config["model_provider"], config["model_provider"])
        who = f"{self._name} ({self._user})" if self._name else self._user
        self._say(self._style(f"Chatting as {who} with chatbot {config['business_number']}", "1"))
        self._say(f"model: {config['model_label']} ({kind})")
        if self._twilio_real:
            real = "Real Twilio: replies go to real WhatsApp through Twilio and will not show here."
            self._say(self._style(real, "33"))
        self._say(f"Type a message and press Enter. /reset starts over; {LOCAL_HELP}")
        return True

    def _read_input(self, stream: TextIO) -> None:
        """Put the lines of ``stream`` in the inbox, read in a thread so no await blocks."""
        loop = asyncio.get_running_loop()

        def read() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the chat is over
                for line in stream:
                    loop.call_soon_threadsafe(self._inbox.put_nowait, line.rstrip("\r\n"))
                loop.call_soon_threadsafe(self._inbox.put_nowait, None)

        threading.Thread(target=read, name="chat-input", daemon=True).start()

    async def _send(self, body: str) -> bool:
        """Send one line as the user's WhatsApp message; False (and why) if it did not go."""
        self._own_bodies[body] += 1
        self._answered.clear()
        payload = {"user": self._user, "body": body, "profile_name": self._name}
        try:
            answer = await self._http.post(wire.MESSAGES_PATH, json=payload)
        except httpx.HTTPError as exc:
            self._say(f"  ! not sent: the sandbox does not answer ({type(exc).__name__})")
            return False
        if answer.status_code >= 400:
            self._say(f"  ! not sent: {answer.json().get('detail', answer.text)}")
            return False
        return True

    async def _follow(self) -> None:
        """Read the event stream until it ends, queueing what is to be printed."""
        params, timeout = {"user": self._user}, httpx.Timeout(10, read=None)
        try:
            async with self._http.stream(
                "GET", wire.EVENTS_PATH, params=params, timeout=timeout
            ) as stream:
                async for name, data in wire.read_events(stream.aiter_lines()):
                    await self._on_event(name, data)
        except httpx.HTTPError:
            pass
        finally:
            self._connected.set()  # or rather, never will be
            self._inbox.put_nowait(None)

    async def _on_event(self, name: str, data: dict[str, Any]) -> None:
        if name == "snapshot":
            self._history(data["messages"])
            self._connected.set()
        elif name == "message" and data["direction"] == "out":
            self._replies[data["id"]] = data
            self._printing.put_nowait(data)
        elif name == "message" and self._own_bodies[data["body"]] > 0:
            self._own_bodies[data["body"]] -= 1  # the user's own line is already on screen
        elif name == "message":  # sent as this user from elsewhere (the page)
            self._printing.put_nowait(self._line(data))
        elif name == "status" and (reply := self._replies.get(data["id"])) is not None:
            async with self._status_moved:
                reply.update(status=data["status"], error=data["error"])
                self._status_moved.notify_all()
        elif name == "typing":
            self._printing.put_nowait(self._style("chatbot is typing…", "2"))

    def _history(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        if note := earlier_note(len(messages) - _SHOWN_HISTORY):
            self._say(self._style(note, "2"))
        for message in messages[-_SHOWN_HISTORY:]:
            self._say(self._line(message))
        self._say(self._style("── the conversation so far; new messages below ──", "2"))

    async def _print_replies(self) -> None:
        """Print replies in order, each once its ticks settle (or after a short wait)."""
        while True:
            item = await self._printing.get()
            if isinstance(item, str):
                self._say(item)
                continue
            await self._until(item, SETTLED)
            if item["status"] == "delivered" and await self._mark_read(item["id"]):
                await self._until(item, {"read"})
            self._say(self._line(item))
            self._answered.set()

    async def _until(self, reply: dict[str, Any], statuses: Container[str]) -> None:
        """Wait, SETTLE_TIMEOUT at most, for the reply's status to be one of ``statuses``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_TIMEOUT), self._status_moved:
                await self._status_moved.wait_for(lambda: reply["status"] in statuses)

    async def _mark_read(self, message_sid: str) -> bool:
        """Say the reply was shown, as WhatsApp does (blue ticks); whether a read will come."""
        try:
            answer = await self._http.post(wire.read_path(message_sid))
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def _line(self, message: dict[str, Any]) -> str:
        at = datetime.fromisoformat(message["at"]).astimezone().strftime("%H:%M")
        mine = message["direction"] == "in"
        who = self._style("you", "32") if mine else self._style("chatbot", "1;32")
        body = message["body"].replace("\n", "\n        ")
        status = message["status"]
        if status in FAILED:
            ticks = self._style(f"! {message.get('error') or status}", "31")
        else:
            ticks = _TICKS.get(status, "…")
            if status == "read":
                ticks = self._style(ticks, "34")
        return f"{self._style(at, '2')} {who}: {body}  {ticks}"


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
        user = wire.normalise_number(args.user)
    except ValueError as exc:
        parser.error(f"--user: {exc}")
    port = os.environ.get("SANDBOX_PORT") or dotenv_values(".env").get("SANDBOX_PORT") or "8090"
    try:
        code = asyncio.run(_chat(args.sandbox_url or f"http://127.0.0.1:{port}", user, args.name))
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


async def _chat(base_url: str, user: str, name: str | None) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=20.0) as http:
        return await ChatClient(http, user, name or None, sys.stdout).run(sys.stdin)


if __name__ == "__main__":
    main()
