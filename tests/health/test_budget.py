"""Client-side budgets: per-model and per-provider rpm/rpd windows on a fake clock, probes'
share, and what quota headers of successful answers say is left."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.budget import (
    PROBE_RESERVE,
    WINDOW_MARGIN_S,
    Budgets,
    Limits,
    provider_limits,
)
from router.config import parse
from router.types import Api, Backend
from router.upstream import Quota
from tests.health.fakes import FakeClock

MINUTE = 60.0 + WINDOW_MARGIN_S


def backend(provider: str = "p", model: str = "m", rpm: int | None = None,
            rpd: int | None = None) -> Backend:
    return Backend(id=f"{provider}/{model}", provider=provider, model=model, api=Api.OPENAI,
                   capabilities=frozenset(), context_length=8192, rpm=rpm, rpd=rpd)


def test_a_model_rpm_stops_sending_until_the_window_slides(clock: FakeClock) -> None:
    budgets = Budgets(clock)
    b = backend(rpm=3)
    assert [budgets.try_acquire(b) for _ in range(4)] == [True, True, True, False]
    assert budgets.left(b).rpm_left == 0
    assert budgets.refill_in(b) == pytest.approx(MINUTE)
    clock.advance(MINUTE - 0.5)
    assert not budgets.try_acquire(b)
    clock.advance(0.5)
    assert budgets.try_acquire(b)


def test_a_provider_budget_is_shared_by_its_models(clock: FakeClock) -> None:
    budgets = Budgets(clock, lambda name: Limits(rpm=2) if name == "acct" else Limits())
    one, two, other = backend("acct", "one"), backend("acct", "two"), backend("else", "x")
    assert budgets.try_acquire(one) and budgets.try_acquire(two)
    assert not budgets.try_acquire(one) and not budgets.try_acquire(two)
    assert budgets.try_acquire(other)
    assert budgets.left(one).rpm_left == 0 and budgets.left(other).rpm_left is None


def test_rpd_counts_the_whole_day(clock: FakeClock) -> None:
    budgets = Budgets(clock)
    b = backend(rpd=2)
    assert budgets.try_acquire(b)
    clock.advance(3600)
    assert budgets.try_acquire(b)
    clock.advance(3600)
    assert not budgets.try_acquire(b)
    assert budgets.refill_in(b) == pytest.approx(86400 + WINDOW_MARGIN_S - 7200)
    assert budgets.left(b).rpd_left == 0


def test_a_refused_request_counts_against_nothing(clock: FakeClock) -> None:
    budgets = Budgets(clock, lambda _: Limits(rpm=10))
    b = backend(rpm=1)
    budgets.try_acquire(b)
    for _ in range(5):
        assert not budgets.try_acquire(b)
    assert budgets.left(b).rpm_left == 0
    assert budgets.left(backend(model="other")).rpm_left == 9


def test_probes_share_the_provider_minute_and_leave_a_reserve(clock: FakeClock) -> None:
    budgets = Budgets(clock, lambda _: Limits(rpm=5, rpd=10))
    b = backend()
    probes = [budgets.try_acquire_probe("p") for _ in range(5)]
    assert probes == [True] * (5 - PROBE_RESERVE) + [False] * PROBE_RESERVE
    assert budgets.left(b).rpm_left == PROBE_RESERVE
    assert budgets.left(b).rpd_left == 10  # a GET /models is not a completion of the day
    assert budgets.try_acquire(b) and budgets.try_acquire(b)


def test_probes_of_a_provider_without_limits_always_go(clock: FakeClock) -> None:
    budgets = Budgets(clock)
    assert all(budgets.try_acquire_probe("p") for _ in range(100))


def test_reported_remaining_zero_blocks_until_the_reported_reset(clock: FakeClock) -> None:
    budgets = Budgets(clock)
    b = backend()
    budgets.observe(b.id, Quota(requests_remaining=0, requests_reset_epoch=clock.wall() + 120))
    assert not budgets.try_acquire(b)
    assert budgets.refill_in(b) == pytest.approx(120.0)
    assert budgets.left(b).rpm_left == 0
    clock.advance(120)
    assert budgets.try_acquire(b)


def test_reported_remaining_counts_down_with_our_sends(clock: FakeClock) -> None:
    budgets = Budgets(clock)
    b = backend()
    budgets.observe(b.id, Quota(requests_remaining=2, day_remaining=500))
    assert budgets.try_acquire(b) and budgets.try_acquire(b)
    assert not budgets.try_acquire(b)
    assert budgets.left(b).rpd_left == 498
    clock.advance(60)  # no reset time was given: the report is trusted for a minute
    assert budgets.try_acquire(b)


def test_the_tighter_of_configured_and_reported_wins(clock: FakeClock) -> None:
    budgets = Budgets(clock)
    b = backend(rpm=30)
    budgets.observe(b.id, Quota(requests_remaining=5))
    assert budgets.left(b).rpm_left == 5
    budgets.observe(b.id, Quota(requests_remaining=500))
    assert budgets.left(b).rpm_left == 30


def test_provider_limits_come_from_the_config() -> None:
    config = parse({"providers": [{"name": "groq", "api": "openai", "base_url": "http://x/v1",
                                   "rpm": 30, "rpd": 1000, "models": [{"name": "m"}]}]},
                   {}, ["random"], {})
    assert provider_limits(config, "groq") == Limits(30, 1000)
    assert provider_limits(config, "nope") == Limits()


@settings(max_examples=200, deadline=None)
@given(rpm=st.integers(1, 20),
       gaps=st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=200))
def test_never_more_than_rpm_in_any_minute(rpm: int, gaps: list[float]) -> None:
    clock = FakeClock()
    budgets = Budgets(clock)
    b = backend(rpm=rpm)
    sent: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        if budgets.try_acquire(b):
            sent.append(clock.monotonic())
        else:
            assert budgets.refill_in(b) > 0
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u - t < 60.0) <= rpm


@settings(max_examples=100, deadline=None)
@given(rpm=st.integers(1, 10), waits=st.lists(st.floats(0.0, 30.0), min_size=1, max_size=60))
def test_after_refill_in_there_is_room(rpm: int, waits: list[float]) -> None:
    clock = FakeClock()
    budgets = Budgets(clock)
    b = backend(rpm=rpm)
    for wait in waits:
        clock.advance(wait)
        if not budgets.try_acquire(b):
            clock.advance(budgets.refill_in(b))
            assert budgets.try_acquire(b)
