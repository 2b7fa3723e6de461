"""The HealthTracker's state machine on a fake clock: scores, ejection on a failure rate,
backoff, half-open trials, rate-limit cooldowns, daily parking, the panic rule, and cooldowns
announced to and applied from other replicas."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from router.health import Cooling, CoolingKind, HealthPolicy, HealthTracker, State
from router.metrics import Metrics
from router.types import Api, Backend, FailureReason, Outcome
from tests.clock import FakeClock

R = FailureReason


def backend(provider: str = "p", model: str = "m", **kw: Any) -> Backend:
    return Backend(id=f"{provider}/{model}", provider=provider, model=model, api=Api.OPENAI,
                   capabilities=frozenset(), context_length=8192, **kw)


A, B, C, D = backend("a"), backend("b"), backend("c"), backend("d")


def gauge(metrics: Metrics, name: str, b: Backend) -> float:
    value = metrics.registry.get_sample_value(name, {"backend": b.id})
    assert value is not None, name
    return value


@pytest.fixture
def tracker(clock: FakeClock) -> HealthTracker:
    return HealthTracker(clock, Metrics(CollectorRegistry()))


def ok(t: HealthTracker, b: Backend, latency: float = 0.2, probe: bool = False) -> None:
    t.record(Outcome(b.id, ok=True, latency_s=latency, probe=probe), b.provider)


def fail(t: HealthTracker, b: Backend, reason: R = R.SERVER_ERROR, **kw: Any) -> None:
    t.record(Outcome(b.id, ok=False, reason=reason, **kw), b.provider)


def ids(t: HealthTracker, *backends: Backend, exclude: tuple[str, ...] = ()) -> set[str]:
    return {c.backend.id for c in t.candidates(backends, exclude=exclude)}


def eject(t: HealthTracker, b: Backend) -> None:
    for _ in range(t.policy.eject_min_requests):
        fail(t, b)
    assert t.state(b) is State.COOLING


# -- scores and ejection -------------------------------------------------------------------------

def test_a_new_backend_is_healthy_with_score_one(tracker: HealthTracker) -> None:
    assert tracker.state(A) is State.HEALTHY
    assert tracker.candidates([A])[0].score == 1.0


def test_one_stray_error_never_benches_a_backend(tracker: HealthTracker) -> None:
    for _ in range(3):
        ok(tracker, A)
    fail(tracker, A)
    assert tracker.state(A) in (State.HEALTHY, State.DEGRADED)
    assert ids(tracker, A, B) == {A.id, B.id}
    assert tracker.candidates([A])[0].score < 1.0


def test_a_failure_rate_over_the_minimum_requests_ejects(tracker: HealthTracker) -> None:
    for _ in range(5):
        ok(tracker, A)
    for _ in range(4):
        fail(tracker, A)
    assert tracker.state(A) is not State.COOLING  # 4 of 9: too few outcomes to judge
    fail(tracker, A)  # 5 of 10 = 50%, over the 10 outcomes
    assert tracker.state(A) is State.COOLING
    assert tracker.cooldown_left(A) == pytest.approx(10.0)
    assert tracker.status(A)["cooldown_reason"] == "server_error"
    assert ids(tracker, A, B, C) == {B.id, C.id}


def test_failures_spread_thinner_than_the_rate_do_not_eject(tracker: HealthTracker) -> None:
    for _ in range(20):
        ok(tracker, A)
        ok(tracker, A)
        fail(tracker, A, R.TIMEOUT)
    assert tracker.state(A) is not State.COOLING


def test_errors_age_out_of_the_window(tracker: HealthTracker, clock: FakeClock) -> None:
    for _ in range(4):
        fail(tracker, A)
    clock.advance(61)
    ok(tracker, A)
    fail(tracker, A)  # the four earlier ones are out of the window: 1 of 2 is under the minimum
    assert tracker.state(A) is not State.COOLING
    assert tracker.status(A)["error_rate"] == 0.5


def test_half_open_lets_exactly_one_trial_through(tracker: HealthTracker, clock: FakeClock) -> None:
    eject(tracker, A)
    clock.advance(10)
    assert tracker.state(A) is State.HALF_OPEN
    assert ids(tracker, A, B, C) == {A.id, B.id, C.id}
    tracker.begin(A)  # the trial is under way: nobody else gets A
    assert ids(tracker, A, B, C) == {B.id, C.id}
    ok(tracker, A)
    tracker.end(A)
    assert tracker.state(A) is State.HEALTHY
    fail(tracker, A)  # the failures that ejected it were forgiven: one more does not re-eject
    assert tracker.state(A) is not State.COOLING


def test_a_failed_trial_ejects_again_for_longer_up_to_the_cap(
    tracker: HealthTracker, clock: FakeClock,
) -> None:
    eject(tracker, A)
    backoffs = [tracker.cooldown_left(A)]
    for _ in range(8):
        clock.advance(tracker.cooldown_left(A))
        assert tracker.state(A) is State.HALF_OPEN
        tracker.begin(A)
        tracker.end(A)
        fail(tracker, A, R.CONNECT)  # the proxy records after end(): still the trial
        backoffs.append(tracker.cooldown_left(A))
    assert backoffs == [10, 20, 40, 80, 160, 300, 300, 300, 300]


def test_backoff_starts_over_after_a_long_healthy_spell(
    tracker: HealthTracker, clock: FakeClock,
) -> None:
    eject(tracker, A)
    clock.advance(10)
    ok(tracker, A)
    clock.advance(5)
    eject(tracker, A)
    assert tracker.cooldown_left(A) == 20  # soon again: longer
    clock.advance(20)
    ok(tracker, A)
    clock.advance(tracker.policy.forget_ejections_after_s + 1)
    eject(tracker, A)
    assert tracker.cooldown_left(A) == 10


def test_a_burst_of_quick_errors_is_not_a_run_of_failures(tracker: HealthTracker) -> None:
    for _ in range(8):
        fail(tracker, A)  # eight concurrent requests' errors, all landing in the same second
    assert tracker.state(A) is not State.COOLING


def test_a_quiet_backend_failing_every_time_is_ejected_on_consecutive_failures(
    tracker: HealthTracker, clock: FakeClock,
) -> None:
    for _ in range(tracker.policy.eject_consecutive):
        clock.advance(30)  # one probe per half window: never the minimum number of outcomes
        fail(tracker, A, probe=True)
    assert tracker.state(A) is State.COOLING


def test_a_probe_success_is_the_half_open_trial(tracker: HealthTracker, clock: FakeClock) -> None:
    eject(tracker, A)
    clock.advance(10)
    ok(tracker, A, probe=True)
    assert tracker.state(A) is State.HEALTHY


def test_a_probe_does_not_decide_a_trial_a_request_is_running(
    tracker: HealthTracker, clock: FakeClock,
) -> None:
    eject(tracker, A)
    clock.advance(10)
    tracker.begin(A)
    fail(tracker, A, probe=True)
    assert tracker.state(A) is State.HALF_OPEN
    ok(tracker, A)
    tracker.end(A)
    assert tracker.state(A) is State.HEALTHY


def test_slow_backends_score_lower_and_scores_stay_in_range(tracker: HealthTracker) -> None:
    for _ in range(20):
        ok(tracker, A, latency=0.3)
        ok(tracker, B, latency=8.0)
    a, b = (c.score for c in tracker.candidates([A, B]))
    assert 0.95 < a <= 1.0
    assert 0.0 <= b < 0.5
    assert tracker.state(B) is State.DEGRADED
    assert tracker.status(B)["latency_ms_p50"] == 8000.0


# -- waits the upstream asked for ----------------------------------------------------------------

def test_a_429_cools_for_its_retry_after_and_a_repeat_never_shortens_it(
    tracker: HealthTracker, clock: FakeClock,
) -> None:
    fail(tracker, A, R.RATE_LIMITED, retry_after_s=60.0)
    assert tracker.state(A) is State.COOLING
    assert tracker.status(A)["cooldown_reason"] == "rate_limited"
    clock.advance(10)
    fail(tracker, A, R.RATE_LIMITED, retry_after_s=5.0)
    assert tracker.cooldown_left(A) == pytest.approx(50.0)
    fail(tracker, A, R.RATE_LIMITED, retry_after_s=90.0)
    assert tracker.cooldown_left(A) == pytest.approx(90.0)


def test_a_429_without_a_hint_cools_for_the_default(tracker: HealthTracker) -> None:
    fail(tracker, A, R.RATE_LIMITED)
    assert tracker.cooldown_left(A) == tracker.policy.rate_limit_default_s


def test_429s_do_not_count_towards_ejection(tracker: HealthTracker, clock: FakeClock) -> None:
    for _ in range(10):
        fail(tracker, A, R.RATE_LIMITED, retry_after_s=1.0)
        clock.advance(1)
    # Its wait is over and it was never ejected: full traffic again, no trial phase.
    assert tracker.state(A) in (State.HEALTHY, State.DEGRADED)
    assert tracker.status(A)["cooldown_s"] == 0.0


def test_a_provider_wide_429_cools_every_backend_of_the_provider(tracker: HealthTracker) -> None:
    a1, a2, other = backend("acct", "one"), backend("acct", "two"), backend("else", "x")
    tracker.candidates([a1, a2, other])
    fail(tracker, a1, R.RATE_LIMITED, retry_after_s=20.0, provider_wide=True)
    assert tracker.state(a2) is State.COOLING
    assert tracker.cooldown_left(a2) == pytest.approx(20.0)
    late = backend("acct", "discovered-later")
    assert tracker.state(late) is State.COOLING
    assert tracker.state(other) is State.HEALTHY


def test_a_429_answering_a_probe_cools_the_whole_provider(tracker: HealthTracker) -> None:
    a1, a2 = backend("acct", "one"), backend("acct", "two")
    tracker.candidates([a1, a2])
    fail(tracker, a1, R.RATE_LIMITED, retry_after_s=15.0, probe=True)
    assert tracker.cooldown_left(a2) == pytest.approx(15.0)


def test_a_daily_quota_parks_the_backend_until_its_reset(
    tracker: HealthTracker, clock: FakeClock,
) -> None:
    fail(tracker, A, R.RATE_LIMITED, retry_after_s=5.0, until_epoch=clock.wall() + 7200)
    assert tracker.cooldown_left(A) == pytest.approx(7200.0)
    clock.advance(7199)
    assert tracker.state(A) is State.COOLING
    clock.advance(2)
    assert tracker.state(A) in (State.HEALTHY, State.DEGRADED)


def test_a_rejected_key_cools_long_a_request_specific_refusal_not_at_all(
    tracker: HealthTracker,
) -> None:
    fail(tracker, A, R.CLIENT_ERROR, retry_after_s=3600.0)  # 401: the classifier's long hint
    assert tracker.cooldown_left(A) == 3600.0
    assert tracker.status(A)["cooldown_reason"] == "client_error"
    for _ in range(10):
        fail(tracker, B, R.CLIENT_ERROR)  # moderation, or over this upstream's size limit
    assert tracker.state(B) is not State.COOLING


def test_a_server_error_with_retry_after_waits_that_long(tracker: HealthTracker) -> None:
    fail(tracker, A, R.SERVER_ERROR, retry_after_s=12.0)  # 503 overloaded, Retry-After: 12
    assert tracker.cooldown_left(A) == 12.0


# -- panic rule ----------------------------------------------------------------------------------

def test_panic_ignores_ejections_when_too_few_backends_are_left(tracker: HealthTracker) -> None:
    eject(tracker, A)
    assert ids(tracker, A, B, C, D) == {B.id, C.id, D.id}  # 3 of 4 left: no panic
    eject(tracker, B)
    assert ids(tracker, A, B, C, D) == {C.id, D.id}  # 2 of 4 = 50%: still no panic
    eject(tracker, C)
    assert ids(tracker, A, B, C, D) == {A.id, B.id, C.id, D.id}  # 1 of 4: health is ignored


def test_panic_never_overrides_a_wait_the_upstream_asked_for(tracker: HealthTracker) -> None:
    eject(tracker, A)
    fail(tracker, B, R.RATE_LIMITED, retry_after_s=30.0)
    fail(tracker, C, R.CLIENT_ERROR, retry_after_s=3600.0)
    assert ids(tracker, A, B, C, D) == {A.id, D.id}


def test_a_lone_ejected_backend_still_serves(tracker: HealthTracker) -> None:
    eject(tracker, A)
    assert ids(tracker, A) == {A.id}  # a backend asked for by id, or a one-backend route


def test_the_panic_rule_is_judged_on_every_capable_backend_not_the_untried(
    tracker: HealthTracker,
) -> None:
    eject(tracker, A)
    # B was tried already by this request: 2 of 3 capable are still fine, A stays out.
    assert ids(tracker, A, B, C, exclude=(B.id,)) == {C.id}


def test_soonest_recovery_is_the_shortest_wait(tracker: HealthTracker) -> None:
    fail(tracker, A, R.RATE_LIMITED, retry_after_s=120.0)
    fail(tracker, B, R.RATE_LIMITED, retry_after_s=40.0)
    assert tracker.soonest_recovery([A, B]) == pytest.approx(40.0)
    assert tracker.soonest_recovery([]) == 0.0


def test_a_custom_policy_changes_the_thresholds(clock: FakeClock) -> None:
    t = HealthTracker(clock, policy=HealthPolicy(eject_min_requests=2, eject_base_s=3.0))
    fail(t, A)
    fail(t, A)
    assert t.cooldown_left(A) == 3.0


# -- what it tells the outside -------------------------------------------------------------------

def test_transitions_are_logged_and_gauges_kept_current(clock: FakeClock) -> None:
    metrics = Metrics(CollectorRegistry())
    t = HealthTracker(clock, metrics)
    with capture_logs() as logs:
        eject(t, A)
        clock.advance(10)
        t.candidates([A])
        ok(t, A)
    moves = [(e["old"], e["new"]) for e in logs if e["event"] == "backend_state"]
    assert moves == [("healthy", "degraded"), ("degraded", "cooling"),
                     ("cooling", "half_open"), ("half_open", "healthy")]
    assert gauge(metrics, "freerouter_backend_up", A) == 1.0
    assert gauge(metrics, "freerouter_backend_health_score", A) > 0.3


def test_the_up_gauge_is_zero_while_cooling(clock: FakeClock) -> None:
    metrics = Metrics(CollectorRegistry())
    t = HealthTracker(clock, metrics)
    fail(t, A, R.RATE_LIMITED, retry_after_s=10.0)
    assert gauge(metrics, "freerouter_backend_up", A) == 0.0


def test_status_row_has_every_field_but_the_budget(clock: FakeClock) -> None:
    t = HealthTracker(clock)
    b = backend("groq", "llama", rpm=20)
    t.begin(b)
    ok(t, b, latency=0.412)
    fail(t, b, R.RATE_LIMITED, retry_after_s=9.0)
    row = t.status(b)
    assert row == {
        "id": "groq/llama", "provider": "groq", "state": "cooling", "score": row["score"],
        "latency_ms_p50": 412.0, "error_rate": 0.5, "cooldown_s": 9.0,
        "cooldown_reason": "rate_limited", "requests": 2, "failures": 1, "inflight": 1,
    }
    score = row["score"]
    assert isinstance(score, float) and 0.0 <= score <= 1.0


# -- cooldowns shared with other replicas --------------------------------------------------------

def announcing(clock: FakeClock) -> tuple[HealthTracker, list[Cooling]]:
    heard: list[Cooling] = []
    return HealthTracker(clock, on_cooling=heard.append), heard


def test_waits_and_ejections_are_announced(clock: FakeClock) -> None:
    t, heard = announcing(clock)
    fail(t, A, R.RATE_LIMITED, retry_after_s=30.0)
    fail(t, B, R.RATE_LIMITED, retry_after_s=20.0, provider_wide=True)
    eject(t, C)
    now = clock.monotonic()
    assert heard == [
        Cooling(A.id, False, CoolingKind.WAIT, now + 30, R.RATE_LIMITED),
        Cooling("b", True, CoolingKind.WAIT, now + 20, R.RATE_LIMITED),
        Cooling(C.id, False, CoolingKind.EJECT, now + 10, R.SERVER_ERROR),
    ]
    ok(t, D)
    fail(t, D)  # a failure that cools nothing announces nothing
    assert len(heard) == 3


def test_a_wait_set_elsewhere_cools_here_and_is_not_announced_again(clock: FakeClock) -> None:
    t, heard = announcing(clock)
    t.apply(Cooling(A.id, False, CoolingKind.WAIT, clock.monotonic() + 30, R.RATE_LIMITED))
    assert t.state(A) is State.COOLING and t.cooldown_left(A) == pytest.approx(30.0)
    assert t.status(A)["cooldown_reason"] == "rate_limited"
    assert heard == []
    # The upstream's word: the panic rule does not override it, as for a local 429.
    assert ids(t, A, B) == {B.id}
    clock.advance(30)
    assert t.state(A) in (State.HEALTHY, State.DEGRADED)  # a rate limit ends in full traffic


def test_a_provider_wide_wait_set_elsewhere_cools_the_whole_account(clock: FakeClock) -> None:
    t, _ = announcing(clock)
    other = backend("a", "other")
    t.apply(Cooling("a", True, CoolingKind.WAIT, clock.monotonic() + 60, R.RATE_LIMITED))
    assert t.state(A) is State.COOLING and t.state(other) is State.COOLING
    assert t.state(B) is State.HEALTHY


def test_an_ejection_elsewhere_cools_then_takes_a_trial_here(clock: FakeClock) -> None:
    t, _ = announcing(clock)
    t.apply(Cooling(A.id, False, CoolingKind.EJECT, clock.monotonic() + 10, R.TIMEOUT))
    assert t.state(A) is State.COOLING and t.status(A)["cooldown_reason"] == "timeout"
    # An ejection, not the upstream's word: a lone backend still serves (the panic rule).
    assert ids(t, A) == {A.id}
    clock.advance(10)
    assert t.state(A) is State.HALF_OPEN
    ok(t, A)
    assert t.state(A) is State.HEALTHY


def test_a_cooldown_heard_back_changes_nothing(clock: FakeClock) -> None:
    t, heard = announcing(clock)
    fail(t, A, R.RATE_LIMITED, retry_after_s=30.0)
    pool = (A, B)
    before = t.candidates(pool)
    t.apply(heard[0])  # this replica's own, read back from the store
    t.apply(Cooling(A.id, False, CoolingKind.WAIT, heard[0].until - 5, R.RATE_LIMITED))
    assert t.candidates(pool) is before  # nothing changed: the cached list stands
    assert t.cooldown_left(A) == pytest.approx(30.0)
    t.apply(Cooling(A.id, False, CoolingKind.WAIT, clock.monotonic() - 1, R.RATE_LIMITED))
    assert t.cooldown_left(A) == pytest.approx(30.0)  # already over: ignored


def test_a_longer_wait_from_elsewhere_extends_one_held_here(clock: FakeClock) -> None:
    t, _ = announcing(clock)
    fail(t, A, R.RATE_LIMITED, retry_after_s=10.0)
    t.apply(Cooling(A.id, False, CoolingKind.WAIT, clock.monotonic() + 40, R.CLIENT_ERROR))
    assert t.cooldown_left(A) == pytest.approx(40.0)
    assert t.status(A)["cooldown_reason"] == "client_error"


def test_refresh_brings_the_score_gauge_up_to_date_after_fast_successes(clock: FakeClock) -> None:
    metrics = Metrics(CollectorRegistry())
    t = HealthTracker(clock, metrics)
    fail(t, A, R.SERVER_ERROR)
    low = gauge(metrics, "freerouter_backend_health_score", A)
    for _ in range(20):
        ok(t, A)  # healthy-path successes: recorded without recomputing the view
    assert gauge(metrics, "freerouter_backend_health_score", A) == low
    t.refresh([A])  # what GET /metrics does first
    assert gauge(metrics, "freerouter_backend_health_score", A) > low
