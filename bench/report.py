"""What a scenario hands back, and how it is printed and written to bench/results/.

Every result file carries what is needed to judge the numbers later: the machine (CPU model,
cores, memory, load when the run started), the versions of Python, nats-server and the key
packages, the git commit (and whether the tree had uncommitted changes), and the settings.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.stats import Accounting, Check, Latency
from chatbot_devstack import find_executable

__all__ = [
    "RESULTS",
    "Options",
    "Report",
    "cpu_rows",
    "environment",
    "latency_rows",
    "reply_checks",
    "reply_rows",
]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PACKAGES = (
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "starlette",
    "pydantic",
    "nats-py",
    "openai",
    "twilio",
    "httpx",
    "aiohttp",
    "prometheus-client",
)


@dataclass(frozen=True)
class Options:
    """What the command line may override; None leaves the scenario's own default."""

    seconds: float | None = None
    rate: float | None = None
    users: int | None = None
    openai_latency: float | None = None
    twilio_latency: float | None = None
    minutes: float | None = None
    profile: bool = False


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """The machine, the software and the commit a result was measured on."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "kernel": platform.release(),
            "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        },
        "versions": {
            "python": platform.python_version(),
            "nats-server": _run([find_executable("nats-server"), "--version"]),
            **{package: _version(package) for package in PACKAGES},
        },
        "git": {
            "sha": _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"]),
            "uncommitted_changes": _run(["git", "-C", str(ROOT), "status", "--porcelain"]) != "",
        },
    }


def reply_rows(accounting: Accounting, messages: int) -> list[tuple[str, str]]:
    """The table rows every scenario prints about what became of its messages."""
    return [
        ("messages sent", str(messages)),
        ("replies (turns)", str(accounting.turns)),
        ("lost replies", str(len(accounting.lost))),
        ("duplicate replies", str(len(accounting.duplicates))),
        ("unmatched / misdirected replies", f"{accounting.unmatched} / {accounting.misdirected}"),
    ]


def reply_checks(accounting: Accounting) -> list[Check]:
    """Zero lost and zero duplicate replies: a target of every scenario."""
    return [
        Check("lost replies", len(accounting.lost), 0, rule="=="),
        Check("duplicate replies", len(accounting.duplicates), 0, rule="=="),
    ]


def cpu_rows(cpu_seconds: dict[str, float], messages: int) -> list[tuple[str, str]]:
    """CPU each process spent per message: where the machine's two cores went."""
    total = sum(cpu_seconds.values())
    shares = "  ".join(
        f"{name} {used * 1000 / max(messages, 1):.2f}"
        for name, used in sorted(cpu_seconds.items(), key=lambda item: -item[1])
    )
    return [
        ("CPU ms per message", shares),
        ("CPU seconds, all processes", f"{total:.1f}"),
    ]


def latency_rows(label: str, latency: Latency) -> list[tuple[str, str]]:
    return [
        (
            f"{label} (ms)",
            f"p50 {latency.p50:g}  p90 {latency.p90:g}  p95 {latency.p95:g}  "
            f"p99 {latency.p99:g}  max {latency.max:g}  (n={latency.count})",
        )
    ]


@dataclass
class Report:
    """A scenario's outcome: a table to print, targets, data for JSON and a plot to draw."""

    scenario: str
    title: str
    settings: dict[str, Any]
    rows: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plot: Callable[[Path], None] | None = None

    @property
    def met(self) -> bool:
        return all(check.met for check in self.checks)

    def publish(self, context: dict[str, Any]) -> Path:
        """Print the table and the targets; write the JSON and the plot; return the JSON path."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        width = max(len(label) for label, _ in self.rows) if self.rows else 0
        print(f"\n== {self.scenario}: {self.title}")
        for label, value in self.rows:
            print(f"   {label:<{width}}  {value}")
        for note in self.notes:
            print(f"   note: {note}")
        for check in self.checks:
            print(f"   target {check}")
        path = RESULTS / f"{self.scenario}.json"
        document = {
            "scenario": self.scenario,
            "title": self.title,
            **context,
            "settings": self.settings,
            "targets": [{**asdict(check), "met": check.met} for check in self.checks],
            "targets_met": self.met,
            "notes": self.notes,
            "results": self.data,
        }
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        if self.plot is not None:
            self.plot(path.with_suffix(".png"))
            print(f"   plot: {path.with_suffix('.png').relative_to(ROOT)}")
        print(f"   results: {path.relative_to(ROOT)}")
        print(f"   {'all targets met' if self.met else 'TARGETS MISSED'}")
        return path
