"""docs/metrics.md lists exactly the metrics the services' sources define, with their labels.

The end-to-end test (tests/e2e/test_prometheus.py) holds the catalogue to what the running
services expose; this one is the quick check against the source, and covers the label names of
series a short run never creates.
"""

from __future__ import annotations

from .catalogue import catalogue, defined_in_source

SERVICES = {"ingress", "conversation", "sender", "console"}
STANDARD_PREFIXES = ("process_", "python_")
"""prometheus_client's default collectors: in the catalogue, not in our source."""


def test_every_metric_in_the_source_is_in_the_catalogue_with_its_type_and_labels() -> None:
    listed = catalogue()
    for name, metric in defined_in_source().items():
        assert name in listed, f"{name} is not in docs/metrics.md"
        entry = listed[name]
        assert entry.type == metric.type, (name, entry.type, metric.type)
        assert entry.labels == metric.labels, (name, sorted(entry.labels), sorted(metric.labels))


def test_the_catalogue_lists_nothing_the_source_does_not_define() -> None:
    defined = set(defined_in_source())
    extra = {
        name
        for name in catalogue()
        if name not in defined and not name.startswith(STANDARD_PREFIXES)
    }
    assert not extra, f"docs/metrics.md lists metrics no service defines: {sorted(extra)}"


def test_catalogue_rows_are_well_formed() -> None:
    entries = catalogue()
    assert len(entries) >= 30
    for entry in entries.values():
        assert entry.type in {"counter", "gauge", "histogram"}, entry
        assert entry.services, entry
        assert entry.services <= SERVICES, entry
        assert entry.name.startswith(("chatbot_", *STANDARD_PREFIXES)), entry
        if entry.type == "counter":
            assert entry.name.endswith("_total"), entry
        else:
            assert not entry.name.endswith("_total"), entry
