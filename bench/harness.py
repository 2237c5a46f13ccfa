"""Shared pieces of the benchmarks: processes, the wrk load generator, the JSON report."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "bench" / "reports"
sys.path.insert(0, str(ROOT / "bench"))

from chatbot_sandbox.stack import (  # noqa: E402
    ManagedProcess,
    ProcessSpec,
    free_port,
    nats_server_spec,
)

__all__ = [
    "REPORTS",
    "WrkResult",
    "machine",
    "nats_server",
    "process",
    "require_wrk",
    "write_report",
    "wrk",
]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def require_wrk() -> str:
    """wrk from Debian's package; installed on the spot when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("bench: wrk is needed (Debian/Ubuntu: apt-get install wrk)")
    return found


def _quiet(_: str, line: str) -> None:
    if '"level": "ERROR"' in line or "Traceback" in line:
        print("   ", line[-1500:], file=sys.stderr)


@contextmanager
def nats_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as store:
        port = free_port()
        server = ManagedProcess(nats_server_spec(port, Path(store)), _quiet)
        server.start()
        try:
            server.wait_ready(10)
            yield f"nats://127.0.0.1:{port}"
        finally:
            server.stop()


@contextmanager
def process(name: str, argv: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    spec = ProcessSpec(name, argv, {**os.environ, **env}, ready_url=ready_url)
    running = ManagedProcess(spec, _quiet)
    running.start()
    try:
        running.wait_ready(30)
        yield
    finally:
        running.stop()


class WrkResult(dict[str, Any]):
    """Requests per second, latency percentiles (ms) and error counts from wrk's output."""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(url: str, script: Path, *, connections: int, seconds: int) -> WrkResult:
    """Run wrk (one thread, closed loop) and parse what it prints."""
    argv = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    out = subprocess.run(
        [*argv, "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        non_2xx=int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        socket_errors=sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
    )
    for percentile in ("50", "90", "99"):
        found = re.search(rf"^\s+{percentile}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{percentile}_ms"] = round(_ms(found.group(1)), 3) if found else None
    return result


def write_report(name: str, report: dict[str, Any]) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **report}, indent=2) + "\n")
    return path
