"""The metric-name reader the dashboard and alert tests rely on."""

from __future__ import annotations

import pytest

from .promql import dashboard_expressions, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "histogram_quantile(0.99, sum by (le, stream) (rate(chatbot_nats_publish_seconds_bucket"
            '{namespace=~"$namespace"}[$__rate_interval])))',
            {"chatbot_nats_publish_seconds_bucket"},
        ),
        (
            'sum by (code) (rate(a_total{x="rate(b_total)", y=~"30(\\\\.0)?"}[15m]))\n'
            "  / on () group_left ()\nsum(rate(c_total[15m] offset 1d)) > 0.05",
            {"a_total", "c_total"},
        ),
        (
            "(sum(rate(x_total[1h])) or vector(0)) == 0 and bool 1e3 < Inf",
            {"x_total"},
        ),
        (
            'max by (consumer) (p{a="b"}) > 0\n  unless on (consumer)\nsum by (consumer) (q)',
            {"p", "q"},
        ),
        ('up{namespace="chat", job=~"a|b"} == 0', {"up"}),
        (
            "label_values(chatbot_webhook_requests_total, namespace)",
            {"chatbot_webhook_requests_total"},
        ),
        (
            "process_resident_memory_bytes / ignoring(pod) group_right x:recorded",
            {
                "process_resident_memory_bytes",
                "x:recorded",
            },
        ),
    ],
)
def test_metric_names_are_read_out_of_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_dashboard_has_queries_and_its_variable() -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 40
    assert "label_values(chatbot_webhook_requests_total, namespace)" in expressions
