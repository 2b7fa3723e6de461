"""The plain-dict families expose what prometheus-client's own metric classes would, sample for
sample (less the `_created` series), whatever is observed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from router.metric_families import (
    CounterFamily,
    FamiliesCollector,
    GaugeFamily,
    HistogramFamily,
)
from router.metrics import DURATION_BUCKETS

LABELS = st.sampled_from([("a", "x"), ("a", "y"), ("b", "x")])
# Bucket edges themselves are drawn often: `le` means less than or equal.
VALUES = st.one_of(st.sampled_from(DURATION_BUCKETS),
                   st.floats(min_value=0, max_value=1000, allow_nan=False))


def samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples if not s.name.endswith("_created")
    }


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(LABELS, VALUES), max_size=30))
def test_a_histogram_matches_prometheus_client(observations: list[tuple[tuple[str, str], float]]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("h_seconds", "doc", ["k", "v"], buckets=DURATION_BUCKETS,
                          registry=theirs)
    family = HistogramFamily("h_seconds", "doc", ["k", "v"], DURATION_BUCKETS)
    ours.register(FamiliesCollector([family]))
    for labels, value in observations:
        reference.labels(*labels).observe(value)
        family.observe(labels, value)
    assert samples(ours) == samples(theirs)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(LABELS, st.integers(min_value=0, max_value=50)), max_size=30))
def test_a_counter_and_a_gauge_match_prometheus_client(steps: list[tuple[tuple[str, str], int]]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("c", "doc", ["k", "v"], registry=theirs)
    gauge = Gauge("g", "doc", ["k", "v"], registry=theirs)
    c, g = CounterFamily("c", "doc", ["k", "v"]), GaugeFamily("g", "doc", ["k", "v"])
    ours.register(FamiliesCollector([c, g]))
    for labels, amount in steps:
        counter.labels(*labels).inc(amount)
        c.inc(labels, amount)
        gauge.labels(*labels).inc(amount)
        g.inc(labels, amount)
        gauge.labels(*labels).dec(1)
        g.inc(labels, -1)
    assert samples(ours) == samples(theirs)


def test_a_touched_counter_shows_zero_before_anything_happens() -> None:
    registry = CollectorRegistry()
    family = CounterFamily("errors", "doc", ["op"])
    registry.register(FamiliesCollector([family]))
    family.touch(("reserve",))
    assert registry.get_sample_value("errors_total", {"op": "reserve"}) == 0.0
    family.inc(("reserve",))
    family.touch(("reserve",))
    assert registry.get_sample_value("errors_total", {"op": "reserve"}) == 1.0


def test_a_name_already_registered_is_refused() -> None:
    registry = CollectorRegistry()
    Counter("c", "doc", registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        registry.register(FamiliesCollector([CounterFamily("c", "doc", [])]))
