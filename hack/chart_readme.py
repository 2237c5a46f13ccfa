"""The parameter tables of charts/chatbot/README.md, generated from values.yaml's comments.

Every key in values.yaml carries a ``# -- description`` comment on the line above it. A key
whose children have no such comments (resources, securityContext, the NATS chart's config) is
one parameter whose default is the whole value. The tables go between the README's
``<!-- parameters:start -->`` and ``<!-- parameters:end -->`` markers, one per top-level
section.

    python hack/chart_readme.py          # exit 1 if the README is not current
    python hack/chart_readme.py --write  # regenerate it (make chart-readme)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "chatbot"
START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")
_DOC = re.compile(r"^ *# -- (?P<text>.+)$")


@dataclass(frozen=True)
class Parameter:
    path: str
    description: str
    default: Any


def comments(text: str) -> dict[str, str]:
    """Dotted key path -> its ``# --`` description, for every mapping key in the file."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: str | None = None
    in_list_below: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        indent = len(line) - len(line.lstrip(" "))
        if in_list_below is not None:
            if indent > in_list_below or (stripped.startswith("- ") and indent == in_list_below):
                continue  # inside a list value: its items are not parameters
            in_list_below = None
        if doc := _DOC.match(line):
            pending = doc["text"].strip()
            continue
        if stripped.startswith("#"):
            continue
        if stripped.startswith("- "):
            in_list_below = indent - 1
            continue
        match = _KEY.match(line)
        if match is None:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(key for _, key in stack), match["key"]])
        if pending is not None:
            found[path] = pending
        pending = None
        stack.append((indent, match["key"]))
    return found


def parameters(values: dict[str, Any], docs: dict[str, str]) -> tuple[list[Parameter], list[str]]:
    """The table rows, and the keys that lack a description."""
    rows: list[Parameter] = []
    missing: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path not in docs:
                missing.append(path)
                continue
            children = isinstance(value, dict) and any(f"{path}.{child}" in docs for child in value)
            if children:
                walk(value, f"{path}.")
            else:
                rows.append(Parameter(path, docs[path], value))

    walk(values, "")
    return rows, missing


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _cell(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "))
    return "`" + text.replace("|", "\\|") + "`"


def tables(values_text: str) -> str:
    values = yaml.safe_load(values_text)
    docs = comments(values_text)
    rows, missing = parameters(values, docs)
    if missing:
        raise SystemExit("values.yaml keys without a `# --` comment: " + ", ".join(missing))
    sections: dict[str, list[Parameter]] = {}
    for row in rows:
        top = row.path.split(".")[0]
        sections.setdefault(top if top in _SECTION_TITLES else "", []).append(row)
    out: list[str] = []
    for section, title in [("", "General"), *_SECTION_TITLES.items()]:
        if section not in sections:
            continue
        out += [f"### {title}", ""]
        if section and section in docs:
            out += [docs[section], ""]
        out += ["| Parameter | Description | Default |", "|---|---|---|"]
        out += [
            f"| `{row.path}` | {_escape(row.description)} | {_cell(row.default)} |"
            for row in sections[section]
        ]
        out.append("")
    return "\n".join(out)


_SECTION_TITLES = {
    "config": "Shared settings",
    "secrets": "Secrets",
    "nats": "NATS",
    "serviceAccount": "ServiceAccount",
    "probes": "Probes",
    "ingress": "ingress",
    "conversation": "conversation",
    "sender": "sender",
    "console": "console",
    "handoff": "Human handoff",
    "networkPolicy": "NetworkPolicy",
    "metrics": "Monitoring",
    "tests": "helm test",
}


def rendered_readme() -> tuple[str, str]:
    """(current README, README with freshly generated tables)."""
    readme = (CHART / "README.md").read_text()
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    generated = tables((CHART / "values.yaml").read_text())
    return readme, f"{head}{START}\n\n{generated}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README")
    args = parser.parse_args()
    current, fresh = rendered_readme()
    if args.write:
        (CHART / "README.md").write_text(fresh)
    elif current != fresh:
        sys.exit("charts/chatbot/README.md is not current: run `make chart-readme`")


if __name__ == "__main__":
    main()
