"""The operators' DLQ tool against a real JetStream: list, show, replay (once)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from nats.aio.client import Client as NATS

from chatbot_common.contracts import DeadLetter
from chatbot_common.dlq import publish_dead_letter
from chatbot_common.dlq_tool import run
from chatbot_common.topology import DLQ, OUTBOUND, provision

ORIGINAL = '{"v":1,"kind":"text","to":"whatsapp:+15550001111","body":"hi","idempotency_key":"k.1"}'


async def command(monkeypatch: pytest.MonkeyPatch, url: str, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("NATS_URL", url)
    out = io.StringIO()
    return await run(argv, out), out.getvalue()


@pytest.fixture
async def dead_letters(nc: NATS) -> None:
    js = nc.jetstream()
    await provision(js, streams=(OUTBOUND, DLQ), duplicate_window=3600)
    for seq, (service, reason, code) in enumerate(
        [("sender", "twilio_rejected", "63016"), ("conversation", "malformed", None)], start=1
    ):
        record = DeadLetter(
            service=service,
            reason=reason,
            error_code=code,
            attempts=1,
            original_subject="chat.outbound.abc",
            original_id=f"k.{seq}",
            original_payload=ORIGINAL,
        )
        await publish_dead_letter(js, record, stream_id=f"CHAT_OUTBOUND:{seq}", timeout=2)


@pytest.mark.usefixtures("dead_letters")
async def test_list_shows_each_dead_letter_and_filters_by_service(
    monkeypatch: pytest.MonkeyPatch, nats_server: Any
) -> None:
    url = nats_server.url
    status, out = await command(monkeypatch, url, "list")
    assert status == 0
    assert "twilio_rejected" in out
    assert "63016" in out
    assert "malformed" in out
    assert "2 dead letter(s)" in out
    assert "+1555" not in out  # phone numbers stay in the payload, not in the listing
    _, only_sender = await command(monkeypatch, url, "list", "--service", "sender")
    assert "1 dead letter(s)" in only_sender
    assert "malformed" not in only_sender


@pytest.mark.usefixtures("dead_letters")
async def test_show_prints_the_whole_record(
    monkeypatch: pytest.MonkeyPatch, nats_server: Any
) -> None:
    status, out = await command(monkeypatch, nats_server.url, "show", "1")
    assert status == 0
    assert json.loads(out)["original_payload"] == ORIGINAL
    missing, _ = await command(monkeypatch, nats_server.url, "show", "99")
    assert missing == 1


@pytest.mark.usefixtures("dead_letters")
async def test_replay_republishes_the_original_once(
    monkeypatch: pytest.MonkeyPatch, nats_server: Any, nc: NATS
) -> None:
    url = nats_server.url
    status, out = await command(monkeypatch, url, "replay", "1")
    assert status == 0
    assert "replayed as CHAT_OUTBOUND:1" in out
    _, again = await command(monkeypatch, url, "replay", "1")
    assert "already replayed" in again
    js = nc.jetstream()
    assert (await js.stream_info(OUTBOUND.name)).state.messages == 1
    stored = await js.get_msg(OUTBOUND.name, seq=1)
    assert stored.data.decode() == ORIGINAL
    assert stored.subject == "chat.outbound.abc"


async def test_a_record_whose_payload_was_cut_is_listed_as_such_and_never_replayed(
    monkeypatch: pytest.MonkeyPatch, nats_server: Any, nc: NATS
) -> None:
    js = nc.jetstream()
    await provision(js, streams=(OUTBOUND, DLQ), duplicate_window=3600)
    record = DeadLetter(
        service="sender",
        reason="malformed",
        attempts=1,
        original_subject="chat.outbound.abc",
        original_payload="{" * 10,
        original_size=900_000,
    )
    await publish_dead_letter(js, record, stream_id="CHAT_OUTBOUND:1", timeout=2)
    _, listed = await command(monkeypatch, nats_server.url, "list")
    status, out = await command(monkeypatch, nats_server.url, "replay", "1")
    assert "cut (900000 bytes)" in listed
    assert (status, out) == (1, "1: not replayed: only part of its payload was kept\n")
    assert (await js.stream_info(OUTBOUND.name)).state.messages == 0


async def test_an_empty_dead_letter_stream_lists_none_and_nothing_else_is_printed(
    monkeypatch: pytest.MonkeyPatch,
    nats_server: Any,
    nc: NATS,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await provision(nc.jetstream(), streams=(DLQ,), duplicate_window=3600)
    status, out = await command(monkeypatch, nats_server.url, "list")
    assert (status, out.splitlines()[-1]) == (0, "0 dead letter(s)")
    errors = capsys.readouterr().err.splitlines()
    assert errors == [f"chatbot-dlq: NATS at {nats_server.url} (NATS_URL)"]  # no disconnect line


async def test_without_nats_url_the_tool_finds_make_runs_nats_port_in_dot_env(
    monkeypatch: pytest.MonkeyPatch,
    nats_server: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = urlsplit(nats_server.url).port
    (tmp_path / ".env").write_text(f"NATS_PORT={port}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("NATS_PORT", raising=False)
    out = io.StringIO()
    assert await run(["list"], out) == 0
    assert out.getvalue().splitlines()[-1] == "0 dead letter(s)"
    assert f"nats://127.0.0.1:{port} (NATS_PORT)" in capsys.readouterr().err
