"""Client-side budgets over a memory store on a fake clock: per-model and per-provider rpm/rpd
windows, probes' share, what providers report (remaining counts, stated limits, split among
replicas), and the store calls budgets do and do not make. Token budgets: estimates reserved,
settled to the reported usage, given back, stated limits, remaining-token counts."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from router.budget import (
    FREE,
    IN_FLIGHT_HORIZON_S,
    IN_FLIGHT_RETRY_S,
    PROBE_RESERVE,
    SHARED_RECHECK_S,
    WINDOW_MARGIN_S,
    BudgetLeft,
    Budgets,
    Limits,
    Ticket,
    provider_limits,
)
from router.config import parse
from router.metrics import Metrics
from router.state.memory import MemoryStore
from router.state.store import Full, Replicas, Reservation, Window
from router.types import Api, Backend
from router.upstream import Quota
from tests.clock import FakeClock

MINUTE = 60.0 + WINDOW_MARGIN_S
T = TypeVar("T")


def done(pending: Awaitable[T]) -> T:
    """The result of a coroutine that never waits (the memory store's): tests stay synchronous."""
    coro = pending.__await__()
    try:
        next(coro)
    except StopIteration as stop:
        value: T = stop.value
        return value
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


def budget_gauge(metrics: Metrics, b: Backend, limit: str) -> float | None:
    return metrics.registry.get_sample_value(
        "freerouter_budget_remaining", {"backend": b.id, "limit": limit})


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
    assert store.asked[0] == (Window("backend:p/m:rpm", 3, MINUTE, per_request=True),)
    configured = backend(model="n", rpm=10)
    budgets.observe(configured.id, Quota(requests_limit=20, day_limit=100))
    assert budgets.windows(configured) == (
        Window("backend:p/n:rpm", 10, MINUTE, per_request=True),
        Window("backend:p/n:rpd", 100, 86400 + WINDOW_MARGIN_S, per_request=True))


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
    assert budget_gauge(metrics, b, "rpm") == 1
    assert budget_gauge(metrics, b, "rpd") == 98
    clock.advance(MINUTE)
    done(budgets.refresh([b]))
    assert budget_gauge(metrics, b, "rpm") == 3


def test_provider_limits_come_from_the_config() -> None:
    config = parse({"providers": [{"name": "groq", "api": "openai", "base_url": "http://x/v1",
                                   "rpm": 30, "rpd": 1000, "models": [{"name": "m"}]}]},
                   {}, ["random"], {})
    assert provider_limits(config, "groq") == Limits(30, 1000)
    assert provider_limits(parse({"providers": [{
        "name": "groq", "api": "openai", "base_url": "http://x/v1", "tpm": 6000, "tpd": 50000,
        "models": [{"name": "m"}]}]}, {}, ["random"], {}), "groq") == Limits(tpm=6000, tpd=50000)
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


# -- token budgets --------------------------------------------------------------------------------


def tokened(tpm: int | None = None, tpd: int | None = None, rpm: int | None = None) -> Backend:
    return Backend(id="p/t", provider="p", model="t", api=Api.OPENAI, capabilities=frozenset(),
                   context_length=131072, rpm=rpm, tpm=tpm, tpd=tpd)


def grant(budgets: Budgets, b: Backend, tokens: int) -> Ticket:
    ticket = done(budgets.reserve(b, tokens))
    assert ticket is not None
    return ticket


def test_an_estimate_is_reserved_and_a_window_refuses_what_it_cannot_hold(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened(tpm=6000, rpm=10)
    first = grant(budgets, b, 2500)
    assert first.tokens == 2500 and first.stored
    assert budgets.left(b) == BudgetLeft(rpm_left=9, tpm_left=3500)
    second = grant(budgets, b, 2500)
    assert done(budgets.reserve(b, 2500)) is None  # 1000 left
    assert budgets.left(b).rpm_left == 8  # the refusal counted nothing
    third = grant(budgets, b, 900)  # a smaller one still fits
    for ticket in (first, second, third):  # answered, each using its estimate
        done(budgets.settle(ticket, ticket.tokens))
    assert budgets.refill_in(b, 2500) == pytest.approx(MINUTE)
    assert budgets.refill_in(b, 50) == 0.0


def test_a_client_is_never_told_to_wait_longer_than_the_window(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened(tpd=10_000, rpm=2)
    for ticket in (grant(budgets, b, 100), grant(budgets, b, 100)):
        done(budgets.settle(ticket, 100))
    assert done(budgets.reserve(b, 100)) is None
    # The router keeps its margin (its window is 60.5 s); the client is told the minute.
    assert budgets.refill_in(b, 100) == pytest.approx(MINUTE)
    assert budgets.retry_after(b, 100) == 60.0
    clock.advance(20)
    assert budgets.retry_after(b, 100) == pytest.approx(MINUTE - 20)  # within it: as it is
    clock.advance(MINUTE - 20)
    spent = grant(budgets, b, 9000)
    done(budgets.settle(spent, 9000))
    assert done(budgets.reserve(b, 2000)) is None
    assert budgets.retry_after(b, 2000) == 86400.0  # the day, not the day and a half second


def test_a_window_held_by_a_reservation_in_flight_says_retry_soon(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened(tpd=5000)
    in_flight = grant(budgets, b, 4000)
    assert done(budgets.reserve(b, 2000)) is None
    # Its answer's usage will replace the estimate: not the day its entry takes to leave.
    assert budgets.retry_after(b, 2000) == budgets.refill_in(b, 2000) == IN_FLIGHT_RETRY_S
    assert budgets.retry_after(b, 500) == 0.0  # a smaller one fits now
    done(budgets.settle(in_flight, 300))
    assert budgets.refill_in(b, 2000) == 0.0
    spent = grant(budgets, b, 2000)
    done(budgets.settle(spent, spent.tokens))  # answered, and it used its whole estimate
    held = grant(budgets, b, 2000)  # in flight, but too small to free what a big one needs
    assert done(budgets.reserve(b, 4000)) is None
    assert budgets.retry_after(b, 4000) == 86400.0
    assert budgets.retry_after(b, 1000) == 0.0
    assert done(budgets.reserve(b, 1000)) is None  # 700 left: held may give back enough
    assert budgets.retry_after(b, 1000) == IN_FLIGHT_RETRY_S
    clock.advance(IN_FLIGHT_HORIZON_S)  # never settled (its attempt broke before it was sent)
    assert budgets.retry_after(b, 1000) == pytest.approx(86400 + WINDOW_MARGIN_S - 600, abs=1)
    assert held.tokens == 2000


class SharedMemory(MemoryStore):
    """One memory store two Budgets share, as replicas share a Redis."""

    shared = True


def test_a_token_window_another_replica_called_full_is_asked_again_soon(
        clock: FakeClock) -> None:
    store = SharedMemory(clock)
    one, two = budgets_for(clock, store=store), budgets_for(clock, store=store)
    b = tokened(tpd=5000)
    in_flight = grant(one, b, 4000)
    assert done(two.reserve(b, 2000)) is None
    done(one.settle(in_flight, 300))  # on the other replica: this one is not told
    assert done(two.reserve(b, 2000)) is None  # what the store said stands a while
    clock.advance(SHARED_RECHECK_S)
    assert done(two.reserve(b, 2000)) is not None  # not a day later


def test_a_window_known_full_for_a_big_estimate_still_asks_for_a_small_one(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, store=store)
    b = tokened(tpm=6000)
    grant(budgets, b, 5000)
    assert done(budgets.reserve(b, 3000)) is None
    assert done(budgets.reserve(b, 3000)) is None  # known: not asked again
    assert len(store.asked) == 2
    grant(budgets, b, 800)
    assert len(store.asked) == 3


def test_settling_replaces_the_estimate_with_the_usage(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened(tpm=6000, tpd=100_000, rpm=10)
    ticket = grant(budgets, b, 5000)
    assert done(budgets.reserve(b, 2000)) is None
    done(budgets.settle(ticket, 1200))  # the answer used less: the rest comes back
    assert budgets.left(b) == BudgetLeft(rpm_left=9, tpm_left=4800, tpd_left=98_800)
    grant(budgets, b, 2000)  # fits now, without waiting for the minute
    failed = grant(budgets, b, 1000)
    done(budgets.settle(failed, 0))  # a failed attempt: its tokens back, its request counted
    assert budgets.left(b) == BudgetLeft(rpm_left=7, tpm_left=2800, tpd_left=96_800)
    kept = grant(budgets, b, 700)
    done(budgets.settle(kept, None))  # a stream that reported no usage keeps its estimate
    assert budgets.left(b).tpm_left == 2100


def test_the_usage_is_counted_at_the_estimates_instant(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened(tpm=1000)
    ticket = grant(budgets, b, 600)
    clock.advance(40)
    done(budgets.settle(ticket, 900))  # more than the estimate
    assert done(budgets.reserve(b, 200)) is None
    clock.advance(MINUTE - 40)  # it leaves the window a minute after it was reserved
    grant(budgets, b, 1000)


def test_a_backend_without_token_budgets_makes_no_store_call(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, store=store)
    b = tokened()
    ticket = grant(budgets, b, 20_000)
    assert ticket is FREE and ticket.tokens == 0
    done(budgets.settle(ticket, 123))
    assert store.asked == []
    requests_only = tokened(rpm=5)
    assert grant(budgets, requests_only, 20_000).tokens == 0  # nothing to settle later
    assert store.asked == [budgets.windows(requests_only)]


def test_an_estimate_above_a_token_limit_never_fits(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, Limits(tpm=8000), store=store)
    b = tokened(tpm=12_000)  # the account's 8000 is the tighter
    assert not budgets.fits(b, 9000) and budgets.fits(b, 8000)
    assert done(budgets.reserve(b, 9000)) is None
    assert store.asked == []  # no store call for what can never fit
    assert budgets.refill_in(b, 8000) == 0.0


def test_a_stated_tpm_becomes_the_backends_window(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened()  # nothing configured
    assert budgets.fits(b, 50_000)
    budgets.learn(b.id, Limits(tpm=8000))  # Groq's 413: "Limit 8000"
    assert not budgets.fits(b, 9000)
    assert budgets.windows(b) == (Window("backend:p/t:tpm", 8000, MINUTE),)
    budgets.observe(b.id, Quota(requests_limit=1000))  # a later limit of another kind keeps it
    assert budgets.left(b).tpm_left == 8000 and budgets.left(b).rpm_left == 1000
    budgets.observe(b.id, Quota(tokens_limit=6000, tokens_remaining=6000))
    assert budgets.windows(b)[-1] == Window("backend:p/t:tpm", 6000, MINUTE)


def test_reported_remaining_tokens_count_down_with_our_estimates(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened()
    budgets.observe(b.id, Quota(tokens_remaining=5000, tokens_reset_epoch=clock.wall() + 30))
    ticket = grant(budgets, b, 3000)
    assert budgets.left(b).tpm_left == 2000
    assert done(budgets.reserve(b, 2500)) is None
    assert budgets.refill_in(b, 2500) == pytest.approx(30.0)
    done(budgets.settle(ticket, 1000))  # the answer's usage corrects the count too
    assert budgets.left(b).tpm_left == 4000
    grant(budgets, b, 2500)
    clock.advance(30)  # the provider's reset: nothing known until the next answer says
    assert budgets.left(b).tpm_left is None


def test_an_upstream_counting_declared_output_gets_as_much_as_is_left(clock: FakeClock) -> None:
    store = CountingStore(clock)
    budgets = budgets_for(clock, store=store)
    b = tokened(tpm=8000, rpm=30)
    # Asked for up to 4596 (a 500-token prompt, 4096 declared), no fewer than its 1524.
    first = done(budgets.reserve(b, 1524, most=4596))
    assert first is not None and first.tokens == 4596
    second = done(budgets.reserve(b, 1524, most=4596))
    assert second is not None and second.tokens == 8000 - 4596  # the rest of the minute
    assert len(store.asked) == 3  # refused whole, then granted what was left
    assert done(budgets.reserve(b, 1524, most=4596)) is None
    assert budgets.left(b).rpm_left == 28  # a refusal counted no request
    # It learnt how long the estimate itself waits: not before the first grant leaves, but both
    # grants are in flight and their usage may give tokens back: look again soon.
    assert budgets.refill_in(b, 1524) == IN_FLIGHT_RETRY_S
    done(budgets.settle(second, second.tokens))
    assert budgets.refill_in(b, 1524) == IN_FLIGHT_RETRY_S  # the first alone may free enough
    done(budgets.settle(first, 700))
    third = done(budgets.reserve(b, 1524, most=20_000))  # capped by the window's limit
    assert third is not None and third.tokens == 8000 - 700 - (8000 - 4596)
    wide = done(budgets.reserve(tokened(), 1524, most=4596))  # no token budget: nothing to count
    assert wide is FREE


def test_a_report_caps_what_declared_output_may_take(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened()
    budgets.observe(b.id, Quota(tokens_remaining=3000, tokens_reset_epoch=clock.wall() + 30))
    ticket = done(budgets.reserve(b, 1000, most=4000))
    assert ticket is not None and ticket.tokens == 3000 and not ticket.stored
    assert budgets.left(b).tpm_left == 0
    done(budgets.settle(ticket, 800))
    assert budgets.left(b).tpm_left == 2200


def test_a_report_does_not_count_the_answered_request_twice(clock: FakeClock) -> None:
    budgets = budgets_for(clock)
    b = tokened()
    grant(budgets, b, 1000)  # the one answered
    clock.advance(0.5)
    grant(budgets, b, 400)  # still in flight when the report was written
    budgets.observe(b.id, Quota(tokens_remaining=5000), latency_s=0.6, tokens=1000)
    assert budgets.left(b).tpm_left == 4600


def test_the_budget_gauge_covers_every_kind(clock: FakeClock) -> None:
    metrics = Metrics(CollectorRegistry())
    budgets = budgets_for(clock, Limits(tpd=100_000), metrics=metrics)
    b = tokened(tpm=6000, rpm=30)
    done(budgets.settle(grant(budgets, b, 1500), 700))
    done(budgets.refresh([b]))
    assert [budget_gauge(metrics, b, u) for u in ("rpm", "tpm", "tpd")] == \
        [29, 5300, 99_300]


@settings(max_examples=150, deadline=None)
@given(tpm=st.integers(500, 5000),
       traffic=st.lists(st.tuples(st.floats(0.0, 20.0, allow_nan=False), st.integers(1, 3000),
                                  st.integers(0, 3000)), min_size=1, max_size=120))
def test_never_more_than_tpm_reported_tokens_in_any_minute(
        tpm: int, traffic: list[tuple[float, int, int]]) -> None:
    clock = FakeClock()
    budgets = budgets_for(clock)
    b = tokened(tpm=tpm)
    spent: list[tuple[float, int]] = []
    for gap, estimate, used in traffic:
        clock.advance(gap)
        ticket = done(budgets.reserve(b, estimate))
        if ticket is None:
            continue
        # An answer reports at most its estimate here (more would overrun by design: the
        # provider counts what it served).
        real = min(used, estimate)
        done(budgets.settle(ticket, real))
        spent.append((clock.monotonic(), real))
    for i, (t, _) in enumerate(spent):
        assert sum(c for u, c in spent[i:] if u - t < 60.0) <= tpm
