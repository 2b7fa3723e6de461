"""The PromQL reader the static checks rely on: it must find every metric an expression selects
and nothing else, or a misspelled metric on the dashboard would go unnoticed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import promql

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(
    lambda name: name not in {"by", "without", "on", "ignoring", "and", "or", "unless", "bool",
                              "offset", "inf", "nan", "group_left", "group_right"}
)
# Expression shapes used on the dashboard and in the rules, with {m} for the metric.
SHAPES = (
    "{m}",
    'sum by (route, status) (rate({m}{{job=~"$job", route=~"a|b"}}[$__rate_interval]))',
    "histogram_quantile(0.95, sum by (le, backend) (rate({m}[5m])))",
    "(sum(rate({m}{{status=~\"5..\"}}[1m])) or vector(0)) / sum(rate({m}[1m]))",
    "max by (job, backend) ({m}) == 0",
    "sum(x_total) by (route) / ignoring (backend) group_left max without (instance) ({m})",
    "{m} offset 5m > bool 1e3",
)


@given(name=NAMES, shape=st.sampled_from(SHAPES))
def test_finds_the_metric_in_every_shape(name: str, shape: str) -> None:
    found = promql.metric_names(shape.format(m=name))
    assert name in found
    assert found - {name} <= {"x_total"}


def test_labels_and_strings_are_not_metrics() -> None:
    expr = 'sum by (up) (freerouter_backend_up{backend="up", job=~"process_x"})'
    assert promql.metric_names(expr) == {"freerouter_backend_up"}
    assert promql.grouping_labels(expr) == {"up"}
    assert promql.matcher_labels(expr) == {"freerouter_backend_up": {"backend", "job"}}


@pytest.mark.parametrize(
    ("expr", "signal"),
    [
        ("max by (backend) (x) == 0", "max by (backend) (x)"),
        ("sum(rate(a[5m]))\n  / sum(b)\n> 0.05", "sum(rate(a[5m]))\n  / sum(b)"),
        ("x >= 1", "x"),
    ],
)
def test_alert_signal(expr: str, signal: str) -> None:
    assert promql.alert_signal(expr) == signal


def test_alert_without_threshold_is_rejected() -> None:
    with pytest.raises(ValueError, match="signal"):
        promql.alert_signal("absent(up)")


def test_documented_metrics_reads_both_table_styles() -> None:
    markdown = "\n".join([
        "| metric | type | labels |",
        "|---|---|---|",
        "| freerouter_requests_total | counter | api, route, status |",
        "| `freerouter_backend_up` | `gauge` | `backend` | 1 while it takes traffic |",
        "| other_metric | gauge | x |",
    ])
    assert promql.documented_metrics(markdown) == {
        "freerouter_requests_total": promql.DocumentedMetric(
            "freerouter_requests_total", "counter", frozenset({"api", "route", "status"})),
        "freerouter_backend_up": promql.DocumentedMetric(
            "freerouter_backend_up", "gauge", frozenset({"backend"})),
    }
