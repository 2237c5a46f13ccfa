"""docs/metrics.md as data, and the metrics the services' sources define.

The catalogue is the operators' list of metrics; these helpers let tests hold it to the source
(every prometheus_client metric declared in services/*/src) and to running services.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "CATALOGUE",
    "SUFFIXES",
    "Entry",
    "Metric",
    "catalogue",
    "defined_in_source",
    "sample_names",
]

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "metrics.md"
SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
"""The sample names a family of each type exposes (a counter's name already ends in _total)."""

_KINDS = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram"}
_HEADER = "| Metric | Type | Labels | Service | Meaning |"
_PARENTHESES = re.compile(r"\([^()]*\)")
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Entry:
    """One row of the catalogue."""

    name: str
    type: str
    labels: frozenset[str]
    services: frozenset[str]


@dataclass(frozen=True)
class Metric:
    """A metric declared in the source."""

    name: str
    type: str
    labels: frozenset[str]


def sample_names(name: str, kind: str) -> set[str]:
    """The sample names a family exposes in the text format."""
    return {name + suffix for suffix in SUFFIXES[kind]}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def catalogue(path: Path = CATALOGUE) -> dict[str, Entry]:
    """Every row of the catalogue's tables, by metric name."""
    entries: dict[str, Entry] = {}
    in_table = False
    for line in path.read_text().splitlines():
        if line.strip() == _HEADER:
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table or line.startswith("|---"):
            continue
        name_cell, kind, labels_cell, services_cell, _meaning = _cells(line)
        (name,) = _CODE.findall(name_cell)
        while _PARENTHESES.search(labels_cell):  # label values, in parentheses, go
            labels_cell = _PARENTHESES.sub("", labels_cell)
        labels = frozenset(_CODE.findall(labels_cell))
        services = frozenset(part.strip() for part in services_cell.split(","))
        assert name not in entries, f"{name} is in the catalogue twice"
        entries[name] = Entry(name, kind, labels, services)
    return entries


@cache
def defined_in_source() -> dict[str, Metric]:
    """Every prometheus_client metric constructed with a literal name in services/*/src."""
    metrics: dict[str, Metric] = {}
    for source in sorted(ROOT.glob("services/*/src/**/*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in _KINDS or not node.args:
                continue
            name = node.args[0]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            labels_node = node.args[2] if len(node.args) > 2 else None
            for keyword in node.keywords:
                if keyword.arg == "labelnames":
                    labels_node = keyword.value
            labels: set[str] = set()
            if isinstance(labels_node, ast.List | ast.Tuple):
                labels = {
                    elt.value
                    for elt in labels_node.elts
                    if isinstance(elt, ast.Constant) and isinstance(elt.value, str)
                }
            metrics[name.value] = Metric(name.value, _KINDS[node.func.id], frozenset(labels))
    return metrics
