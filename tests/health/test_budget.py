"""Client-side budgets over a memory store on a fake clock: per-model and per-provider rpm/rpd
windows, probes' share, what providers report (remaining counts, stated limits, split among
replicas), and the store calls budgets do and do not make."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from router.budget import PROBE_RESERVE, WINDOW_MARGIN_S, Budgets, Limits, provider_limits
from router.config import parse
from router.metrics import Metrics
from router.state.memory import MemoryStore
from router.state.store import Full, Replicas, Reservation, Window
from router.types import Api, Backend
from router.upstream import Quota
from tests.health.fakes import FakeClock

MINUTE = 60.0 + WINDOW_MARGIN_S
T = TypeVar("T")


def done(pending: Awaitable[T]) -> T:
    """The result of a coroutine that never waits (the memory store's): tests stay synchronous."""
    coro = pending.__await__()
    try:
        next(coro)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("the memory store waited on something")


def backend(provider: str = "p", model: str = "m", rpm: int | None = None,
            rpd: int | None = None) -> Backend:
    return Backend(id=f"{provider}/{model}", provider=provider, model=model, api=Api.OPENAI,
                   capabilities=frozenset(), context_length=8192, rpm=rpm, rpd=rpd)


class CountingStore(MemoryStore):
    """A memory store that counts the reservations asked of it, and may see other replicas."""

    def __init__(self, clock: FakeClock, replicas: Sequence[str] = ("me",)) -> None:
        super().__init__(clock, "me")
        self.asked: list[tuple[Window, ...]] = []
        self._seen = Replicas(tuple(sorted(replicas)), "me")
        self.answering = True

    @property
    def up(self) -> bool:
        return self.answering

    def replicas(self) -> Replicas:
        return self._seen

    async def reserve(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        self.asked.append(tuple(windows))
        return await super().reserve(windows, cost)


def budgets_for(clock: FakeClock, limits: Limits | None = None, store: MemoryStore | None = None,
                metrics: Metrics | None = None) -> Budgets:
    return Budgets(store or MemoryStore(clock), clock, metrics,
                   lambda name: limits or Limits())


def sends(budgets: Budgets, b: Backend, n: int) -> list[bool]:
    return [done(budgets.reserve(b)) is not None for _ in range(n)]


def test_a_model_rpm_stops_sending_until_the_window_slides(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = backend(rpm=3)
    assert sends(budgets, b, 4) == [True, True, True, False]
    assert budgets.left(b).rpm_left == 0
    assert budgets.refill_in(b) == pytest.approx(MINUTE)
    clock.advance(MINUTE - 0.5)
    assert done(budgets.reserve(b)) is None
    clock.advance(0.5)
    assert done(budgets.reserve(b)) is not None


def test_a_provider_budget_is_shared_by_its_models(clock: FakeClock) -> None:
    budgets = Budgets(MemoryStore(clock), clock,
                      provider_limits=lambda name: Limits(rpm=2) if name == "acct" else Limits())
    one, two, other = backend("acct", "one"), backend("acct", "two"), backend("else", "x")
    assert sends(budgets, one, 1) == [True] and sends(budgets, two, 1) == [True]
    assert sends(budgets, one, 1) == [False] and sends(budgets, two, 1) == [False]
    assert sends(budgets, other, 1) == [True]
    assert budgets.left(one).rpm_left == 0 and budgets.left(other).rpm_left is None
    # The account is full: what is known about it is known for every model of it.
    assert budgets.refill_in(two) == pytest.approx(MINUTE)


def test_rpd_counts_the_whole_day(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = backend(rpd=2)
    assert sends(budgets, b, 1) == [True]
    clock.advance(3600)
    assert sends(budgets, b, 2) == [True, False]
    assert budgets.refill_in(b) == pytest.approx(86400 + WINDOW_MARGIN_S - 3600)
    assert budgets.left(b).rpd_left == 0


def test_a_refused_request_counts_against_nothing(clock: FakeClock) -> None:
    budgets = budgets_for(clock, Limits(rpm=10))
    b = backend(rpm=1)
    assert sends(budgets, b, 6) == [True] + [False] * 5
    assert budgets.left(b).rpm_left == 0
    assert budgets.left(backend(model="other")).rpm_left == 9


def test_a_backend_without_budgets_makes_no_store_call(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, store=store)
    assert all(sends(budgets, backend(), 50))
    assert store.asked == []
    assert budgets.left(backend()).rpm_left is None


def test_a_window_known_full_is_not_asked_again(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, store=store)
    b = backend(rpm=2)
    assert sends(budgets, b, 10) == [True, True] + [False] * 8
    # The second grant said the window is full for a minute: nothing more is asked meanwhile.
    assert len(store.asked) == 2
    clock.advance(MINUTE)
    assert sends(budgets, b, 1) == [True] and len(store.asked) == 3


def test_probes_share_the_provider_minute_and_leave_a_reserve(clock: FakeClock) -> None:
    budgets = budgets_for(clock, Limits(rpm=5, rpd=10))
    b = backend()
    probes = [done(budgets.probe_slot("p")) for _ in range(5)]
    assert probes == [True] * (5 - PROBE_RESERVE) + [False] * PROBE_RESERVE
    assert budgets.left(b).rpm_left == PROBE_RESERVE
    assert budgets.left(b).rpd_left == 10  # a GET /models is not a completion of the day
    assert sends(budgets, b, 3) == [True, True, False]


def test_probes_of_a_provider_without_limits_always_go(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    assert all(done(budgets.probe_slot("p")) for _ in range(100))
    assert not done(budgets_for(clock, Limits(rpm=PROBE_RESERVE)).probe_slot("p"))


def test_reported_remaining_zero_blocks_until_the_reported_reset(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = backend()
    budgets.observe(b.id, Quota(requests_remaining=0, requests_reset_epoch=clock.wall() + 120))
    assert done(budgets.reserve(b)) is None
    assert budgets.refill_in(b) == pytest.approx(120.0)
    assert budgets.left(b).rpm_left == 0
    clock.advance(120)
    assert done(budgets.reserve(b)) is not None


def test_reported_remaining_counts_down_with_our_sends(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = backend()
    budgets.observe(b.id, Quota(requests_remaining=2, day_remaining=500))
    assert sends(budgets, b, 3) == [True, True, False]
    assert budgets.left(b).rpd_left == 498
    clock.advance(60)  # no reset time was given: the report is trusted for a minute
    assert sends(budgets, b, 1) == [True]


def test_the_tighter_of_configured_and_reported_wins(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = backend(rpm=30)
    budgets.observe(b.id, Quota(requests_remaining=5))
    assert budgets.left(b).rpm_left == 5
    budgets.observe(b.id, Quota(requests_remaining=500))
    assert budgets.left(b).rpm_left == 30


def test_a_stated_limit_becomes_a_window_in_the_store(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, store=store)
    b = backend()  # nothing configured
    assert sends(budgets, b, 1) == [True] and store.asked == []
    budgets.observe(b.id, Quota(requests_limit=3, requests_remaining=2))
    assert sends(budgets, b, 3) == [True, True, False]
    assert store.asked[0] == (Window("backend:p/m:rpm", 3, MINUTE),)
    configured = backend(model="n", rpm=10)
    budgets.observe(configured.id, Quota(requests_limit=20, day_limit=100))
    assert budgets.windows(configured) == (Window("backend:p/n:rpm", 10, MINUTE),
                                           Window("backend:p/n:rpd", 100, 86400 + WINDOW_MARGIN_S))


def test_a_reported_count_is_trusted_whole_the_store_up_or_down(clock: FakeClock) -> None:
    # Every answer brings the provider's own, fresh count: a share of it would lock this
    # replica out until the reset whenever its part ran down between two answers.
    store = CountingStore(clock, replicas=("a", "me", "z"))
    budgets = budgets_for(clock, store=store)
    b = backend()
    budgets.observe(b.id, Quota(requests_remaining=3))
    store.answering = False
    assert budgets.left(b).rpm_left == 3
    assert sends(budgets, b, 4) == [True, True, True, False]


def test_the_budget_gauge_follows_the_tightest_window(clock: FakeClock) -> None:
    metrics = Metrics(CollectorRegistry())
    budgets = budgets_for(clock, Limits(rpm=5, rpd=100), metrics=metrics)
    b = backend(rpm=3)
    sends(budgets, b, 2)
    done(budgets.refresh([b]))  # what GET /metrics does before it answers
    gauge = metrics.budget_remaining
    assert gauge.labels(b.id, "rpm")._value.get() == 1
    assert gauge.labels(b.id, "rpd")._value.get() == 98
    clock.advance(MINUTE)
    done(budgets.refresh([b]))
    assert gauge.labels(b.id, "rpm")._value.get() == 3


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
    budgets = budgets_for(clock)
    b = backend(rpm=rpm)
    sent: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        if done(budgets.reserve(b)) is not None:
            sent.append(clock.monotonic())
        else:
            assert budgets.refill_in(b) > 0
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u - t < 60.0) <= rpm


@settings(max_examples=100, deadline=None)
@given(rpm=st.integers(1, 10), waits=st.lists(st.floats(0.0, 30.0), min_size=1, max_size=60))
def test_after_refill_in_there_is_room(rpm: int, waits: list[float]) -> None:
    clock = FakeClock()
    budgets = budgets_for(clock)
    b = backend(rpm=rpm)
    for wait in waits:
        clock.advance(wait)
        if done(budgets.reserve(b)) is None:
            clock.advance(budgets.refill_in(b))
            assert done(budgets.reserve(b)) is not None
