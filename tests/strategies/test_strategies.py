"""Each built-in strategy only ever picks among its candidates; weighted follows weight x score;
sticky is stable per session and moves only the sessions of a backend that leaves."""

from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from router.types import Api, Backend, Candidate, Needs
from strategies.sticky import Sticky
from strategies.uniform import UniformRandom
from strategies.weighted import Weighted

NEEDS = Needs(capabilities=frozenset(), prompt_tokens=10)


def backend(i: int, weight: float = 1.0) -> Backend:
    return Backend(id=f"p/m{i}", provider="p", model=f"m{i}", api=Api.OPENAI,
                   capabilities=frozenset(), context_length=8192, weight=weight)


candidate_lists = st.lists(
    st.builds(lambda i, w, s: Candidate(backend(i, w), s),
              st.integers(0, 10_000), st.floats(0, 100), st.floats(0, 1)),
    min_size=1, max_size=30, unique_by=lambda c: c.backend.id)


@given(candidate_lists, st.integers(), st.one_of(st.none(), st.text(max_size=20)))
@settings(max_examples=200)
def test_every_strategy_picks_one_of_its_candidates(
    candidates: list[Candidate], seed: int, session: str | None
) -> None:
    needs = Needs(frozenset(), 10, session_key=session)
    for cls in (UniformRandom, Weighted, Sticky):
        assert cls(random.Random(seed)).pick(candidates, needs) in candidates


def test_uniform_is_uniform() -> None:
    cands = [Candidate(backend(i)) for i in range(4)]
    strategy = UniformRandom(random.Random(7))
    n = 40_000
    counts = Counter(strategy.pick(cands, NEEDS).backend.id for _ in range(n))
    for c in cands:
        # Binomial(n, 1/4): 5 standard deviations is far outside chance.
        assert abs(counts[c.backend.id] - n / 4) < 5 * math.sqrt(n * 0.25 * 0.75)


@given(st.lists(st.floats(0.1, 10), min_size=2, max_size=5),
       st.lists(st.floats(0.1, 1), min_size=5, max_size=5))
@settings(max_examples=15, deadline=None)
def test_weighted_shares_follow_weight_times_score(weights: list[float], scores: list[float]) -> None:
    cands = [Candidate(backend(i, w), scores[i]) for i, w in enumerate(weights)]
    strategy = Weighted(random.Random(3))
    n = 20_000
    counts = Counter(strategy.pick(cands, NEEDS).backend.id for _ in range(n))
    total = sum(c.backend.weight * c.score for c in cands)
    for c in cands:
        p = c.backend.weight * c.score / total
        assert abs(counts[c.backend.id] - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 1


def test_weighted_with_all_zero_weights_still_routes() -> None:
    cands = [Candidate(backend(i, 0.0)) for i in range(3)]
    picks = {Weighted(random.Random(1)).pick(cands, NEEDS).backend.id for _ in range(50)}
    assert picks <= {c.backend.id for c in cands}


@given(st.text(min_size=1, max_size=40), st.integers(2, 20), st.integers())
def test_sticky_is_stable_and_independent_of_order_and_replica(key: str, n: int, seed: int) -> None:
    cands = [Candidate(backend(i)) for i in range(n)]
    needs = Needs(frozenset(), 1, session_key=key)
    first = Sticky(random.Random(seed)).pick(cands, needs)
    shuffled = cands[:]
    random.Random(seed).shuffle(shuffled)
    # Another replica (another RNG), candidates in another order: the same backend.
    assert Sticky(random.Random(seed + 1)).pick(shuffled, needs) == first


def test_sticky_moves_only_the_sessions_of_a_backend_that_leaves() -> None:
    cands = [Candidate(backend(i)) for i in range(8)]
    strategy = Sticky(random.Random(0))
    sessions = [f"session-{i}" for i in range(4000)]
    before = {s: strategy.pick(cands, Needs(frozenset(), 1, session_key=s)).backend.id
              for s in sessions}
    gone = cands[3].backend.id
    remaining = [c for c in cands if c.backend.id != gone]
    after = {s: strategy.pick(remaining, Needs(frozenset(), 1, session_key=s)).backend.id
             for s in sessions}
    moved = [s for s in sessions if before[s] != after[s]]
    assert moved and all(before[s] == gone for s in moved)
    assert all(after[s] == before[s] for s in sessions if before[s] != gone)
    # And the load stays spread: every backend holds a fair share (1/8 of 4000 = 500).
    assert all(350 < n < 650 for n in Counter(before.values()).values())


def test_sticky_without_a_session_key_spreads() -> None:
    cands = [Candidate(backend(i)) for i in range(4)]
    strategy = Sticky(random.Random(5))
    assert len({strategy.pick(cands, NEEDS).backend.id for _ in range(200)}) == 4
