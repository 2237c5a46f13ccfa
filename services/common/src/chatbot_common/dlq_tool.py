"""`make dlq`: see and replay the dead-letter stream (CHAT_DLQ), for operators.

    chatbot-dlq list [--service NAME] [--limit N]   one line per dead letter, newest last
    chatbot-dlq show SEQ                            one record, whole (it holds the payload)
    chatbot-dlq replay SEQ [SEQ ...]                publish each original message again

A replay publishes the original payload to its original subject again (:mod:`.dlq_records`);
a second replay of the same record is dropped. The record stays in CHAT_DLQ (``list`` marks what
was replayed in this run only); fix the cause before replaying, or it comes straight back. A
record whose payload was too large to keep whole (``cut`` in the list) is never replayed.
NATS_URL says where NATS is, as for the services; without it, NATS_PORT on this machine (as
`make run` uses it), each from the environment or ``.env``. The first line names the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .bus import NatsUnavailableError, connect, redact_url
from .contracts import ContractError, DeadLetter
from .dlq_records import dead_letter_at, dead_letters, replay

__all__ = ["ToolSettings", "main", "run"]


class ToolSettings(BaseSettings):
    """Where the operator's NATS is: the services' NATS_URL, else `make run`'s NATS_PORT."""

    model_config = SettingsConfigDict(extra="ignore", env_file=".env")

    nats_url: str | None = None
    nats_port: int | None = Field(None, ge=1, le=65535)

    def nats(self) -> tuple[str, str]:
        """The URL, and which setting gave it."""
        if self.nats_url:
            return self.nats_url, "NATS_URL"
        if self.nats_port is not None:
            return f"nats://127.0.0.1:{self.nats_port}", "NATS_PORT"
        return "nats://127.0.0.1:4222", "the local default"


def _line(seq: int, record: DeadLetter | ContractError) -> str:
    if isinstance(record, ContractError):
        return f"{seq:>8}  (unreadable record: {record})"
    when = record.failed_at.isoformat(timespec="seconds")
    code = record.error_code or "-"
    prefix = record.original_subject.rpartition(".")[0]
    cut = f"  cut ({record.original_size} bytes)" if record.original_size is not None else ""
    return (
        f"{seq:>8}  {when}  {record.service:<12} {record.reason:<22} {code:<24} "
        f"{prefix}  attempts={record.attempts}{cut}"
    )


async def _list(js: JetStreamContext, out: TextIO, service: str | None, limit: int) -> int:
    lines = [_line(seq, record) async for seq, record in dead_letters(js, service)]
    shown = lines[-limit:] if limit else lines
    print(f"{'seq':>8}  failed at                  service      reason", file=out)
    for line in shown:
        print(line, file=out)
    print(
        f"{len(lines)} dead letter(s){'' if len(shown) == len(lines) else ', newest shown'}",
        file=out,
    )
    return 0


async def _show(js: JetStreamContext, out: TextIO, seq: int) -> int:
    print((await dead_letter_at(js, seq)).model_dump_json(indent=2), file=out)
    return 0


async def _replay(js: JetStreamContext, out: TextIO, seqs: Sequence[int]) -> int:
    status = 0
    for seq in seqs:
        replayed = await replay(js, seq)
        if replayed.outcome == "cut":
            print(f"{seq}: not replayed: only part of its payload was kept", file=out)
            status = 1
        elif replayed.outcome == "already_replayed":
            print(f"{seq}: already replayed", file=out)
        else:
            print(f"{seq}: replayed as {replayed.where}", file=out)
    return status


async def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run one command; the exit status."""
    parser = argparse.ArgumentParser(prog="chatbot-dlq", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line per dead letter")
    listing.add_argument("--service", help="only this service's (ingress, conversation, sender)")
    listing.add_argument("--limit", type=int, default=50, help="newest N (0: all)")
    commands.add_parser("show", help="one record, whole").add_argument("seq", type=int)
    replay = commands.add_parser("replay", help="publish original messages again")
    replay.add_argument("seq", type=int, nargs="+")
    args = parser.parse_args(argv)

    url, source = ToolSettings().nats()
    print(f"chatbot-dlq: NATS at {redact_url(url)} ({source})", file=sys.stderr)  # noqa: T201
    try:
        nc: NATS = await connect(url, name="chatbot-dlq", timeout=5.0)
    except NatsUnavailableError as error:
        print(f"chatbot-dlq: {error}", file=sys.stderr)  # noqa: T201 - a CLI
        return 1
    try:
        js = nc.jetstream()
        if args.command == "list":
            return await _list(js, out, args.service, args.limit)
        try:
            if args.command == "show":
                return await _show(js, out, args.seq)
            return await _replay(js, out, args.seq)
        except NotFoundError:
            print("chatbot-dlq: no such dead letter", file=sys.stderr)  # noqa: T201 - a CLI
            return 1
    finally:
        await nc.close()


def main() -> None:
    """Entry point of ``chatbot-dlq``."""
    sys.exit(asyncio.run(run(sys.argv[1:])))
