"""The README's repository layout names what is there, and `make help` lines up."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout() -> str:
    """The code block under the README's "Repository layout" heading."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Repository layout\n", 1)[1]
    return section.split("```", 2)[1]


def tracked() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [line for line in listed.stdout.splitlines() if (ROOT / line).exists()]


def test_the_layout_names_every_folder_package_doc_and_tool() -> None:
    block = layout()
    named = set(re.findall(r"[\w.-]+(?:/[\w.-]+)*/?", block))
    files = tracked()
    grouped = {"services", "tests", "charts"}  # named one package, suite or chart at a time
    wanted: set[str] = set()
    for path in files:
        parts = path.split("/")
        if len(parts) > 1 and parts[0] not in grouped:
            wanted.add(parts[0] + "/")  # a top-level folder
        if len(parts) > 2 and parts[0] in grouped:
            wanted.add(f"{parts[0]}/{parts[1]}/")
        if len(parts) == 2 and parts[0] in {"docs", "hack"}:
            wanted.add(parts[1])  # each document and tool, by name
    wanted = (wanted - {".ci/"}) | {".ci/run"}  # .ci/ holds the one script CI runs
    missing = sorted(wanted - named)
    assert not missing, f"README.md's repository layout does not name {missing}"


def make_help() -> list[str]:
    # Not as a sub-make of `make test`: no "Entering directory" lines, no inherited flags.
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES"}
    }
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.splitlines()


def test_make_help_lists_every_target_in_one_column() -> None:
    lines = make_help()
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-zA-Z_-]+):.*## ", makefile, re.MULTILINE)
    assert [line.split()[0] for line in lines] == targets
    assert not any("\033" in line for line in lines), "colour when the output is not a terminal"
    starts = {line.index(line.split(maxsplit=1)[1], 2 + len(line.split()[0])) for line in lines}
    assert len(starts) == 1, "the descriptions do not start in one column"
    longest = max(len(target) for target in targets)
    assert starts == {2 + longest + 2}
