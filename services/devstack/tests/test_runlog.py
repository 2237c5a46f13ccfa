"""What `make run` shows of its processes' output, and what it keeps in their log files."""

from __future__ import annotations

import io
import json
from pathlib import Path

from chatbot_devstack.runlog import RunLog, readable

TURN = {
    "time": "2026-12-04T20:21:18+0000",
    "level": "INFO",
    "logger": "chatbot_conversation.turns",
    "message": "turn done",
    "user_key": "1c89fa2f",
    "seq": 1,
    "service": "conversation",
    "trace_id": "f64e0db78f5f546a065631fdd9529cb4",
}


def test_a_json_event_is_one_line_with_its_fields_and_without_trace_ids() -> None:
    line = readable(json.dumps(TURN), colour=False)
    assert line == "20:21:18 turn done  user_key=1c89fa2f  seq=1"


def test_warnings_and_errors_say_so_and_tracebacks_follow_indented() -> None:
    failed = TURN | {"level": "ERROR", "message": "turn failed", "exc_info": "Traceback\n  boom"}
    assert readable(json.dumps(failed), colour=False) == (
        "20:21:18 ERROR turn failed  user_key=1c89fa2f  seq=1\n    Traceback\n      boom"
    )


def test_uvicorns_start_up_chatter_and_nats_information_are_left_to_the_file() -> None:
    started = TURN | {"logger": "uvicorn.error", "message": "Application startup complete."}
    assert readable(json.dumps(started), colour=False) is None
    assert (
        readable("[3997] 2026/12/04 20:21:00.068980 [INF] Starting nats-server", colour=False)
        is None
    )
    assert readable("[3997] 2026/12/04 20:21:07.5 [WRN] slow consumer", colour=False) == (
        "20:21:07 WARNING slow consumer"
    )


def test_other_lines_are_shown_as_they_are() -> None:
    assert readable("Traceback (most recent call last):", colour=False) == (
        "Traceback (most recent call last):"
    )
    assert readable("{not json", colour=False) == "{not json"


def test_colour_marks_the_time_and_the_level() -> None:
    warned = readable(json.dumps(TURN | {"level": "WARNING"}), colour=True)
    assert (
        warned
        == "\033[2m20:21:18\033[0m \033[33mWARNING \033[0mturn done  user_key=1c89fa2f  seq=1"
    )


def test_the_terminal_gets_readable_lines_and_each_file_the_whole_output(tmp_path: Path) -> None:
    out = io.StringIO()
    log = RunLog(tmp_path / "logs", out, colour=False)
    nats_info = "[1] 2026/12/04 20:21:00.1 [INF] Server is ready"
    log("nats", nats_info)
    log("conversation", json.dumps(TURN))
    log.close()
    assert out.getvalue() == "conversation 20:21:18 turn done  user_key=1c89fa2f  seq=1\n"
    assert (tmp_path / "logs" / "nats.log").read_text() == nats_info + "\n"
    assert (tmp_path / "logs" / "conversation.log").read_text() == json.dumps(TURN) + "\n"
