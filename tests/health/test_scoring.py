"""The score's arithmetic, and that it reaches the `weighted` strategy."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from router.health import HealthTracker
from router.scoring import Mark, OutcomeWindow, ScorePolicy, WindowCounts, score
from router.types import Api, Backend, Needs, Outcome
from strategies.weighted import Weighted
from tests.clock import FakeClock

POLICY = ScorePolicy()


@given(total=st.integers(0, 1000), failures=st.integers(0, 1000), limited=st.integers(0, 1000),
       latency=st.none() | st.floats(0, 1e6))
def test_the_score_is_always_between_zero_and_one(
    total: int, failures: int, limited: int, latency: float | None,
) -> None:
    failures, limited = min(failures, total), min(limited, total - min(failures, total))
    assert 0.0 <= score(WindowCounts(total, failures, limited), latency, POLICY) <= 1.0


@given(total=st.integers(1, 200), failures=st.integers(0, 199))
def test_more_failures_never_score_higher(total: int, failures: int) -> None:
    failures = min(failures, total - 1)
    worse = score(WindowCounts(total, failures + 1, 0), 0.5, POLICY)
    assert worse < score(WindowCounts(total, failures, 0), 0.5, POLICY)


@given(fast=st.floats(0, 100), slower=st.floats(0.001, 100))
def test_slower_never_scores_higher(fast: float, slower: float) -> None:
    counts = WindowCounts(10, 1, 0)
    assert score(counts, fast + slower, POLICY) <= score(counts, fast, POLICY)


def test_the_constants_give_the_documented_values() -> None:
    none = WindowCounts()
    assert score(none, None, POLICY) == 1.0
    assert round(score(WindowCounts(1, 1, 0), None, POLICY), 2) == 0.67  # one stray error
    assert round(score(none, 0.5, POLICY), 2) == 0.99
    assert round(score(none, 5.0, POLICY), 2) == 0.5


@given(marks=st.lists(st.tuples(st.floats(0, 5), st.sampled_from(list(Mark))), max_size=300))
def test_window_running_counts_match_a_recount(marks: list[tuple[float, Mark]]) -> None:
    window = OutcomeWindow(ScorePolicy(window_s=60.0, max_window_entries=50))
    now = 0.0
    kept: list[tuple[float, Mark]] = []
    for gap, mark in marks:
        now += gap
        window.add(now, mark)
        kept = [*kept, (now, mark)][-50:]
    recent = [m for t, m in kept if t > now - 60.0]
    counts = window.counts(now)
    assert counts == WindowCounts(len(recent), recent.count(Mark.FAILURE), recent.count(Mark.LIMITED))


def test_scores_reach_the_weighted_strategy(clock: FakeClock) -> None:
    fast, slow = (Backend(f"{p}/m", p, "m", Api.OPENAI, frozenset(), 8192) for p in ("fast", "slow"))
    tracker = HealthTracker(clock)
    for _ in range(20):
        tracker.record(Outcome(fast.id, ok=True, latency_s=0.3), "fast")
        tracker.record(Outcome(slow.id, ok=True, latency_s=10.0), "slow")
    strategy = Weighted(random.Random(3))
    needs = Needs(frozenset(), 10)
    picks = Counter(strategy.pick(tracker.candidates([fast, slow]), needs).backend.id
                    for _ in range(2000))
    assert picks[fast.id] > 3 * picks[slow.id] > 0
