"""The health tracker: the only writer of backend health. Fed with Outcomes by two producers, the
proxy (passive: real requests) and the prober (active); read by the proxy to choose candidates.

States (docs/health.md has the diagram):
- healthy / degraded: takes traffic; degraded when the score is below `degraded_below`.
- cooling: out of rotation until a deadline. Either *ejected* (the backend's own failure rate
  over a minimum number of outcomes; backoff doubling per repeated ejection, capped) or *told to
  wait* (a 429's hint, a daily quota's reset, a rejected key), which only ever extends.
- half_open: the deadline passed; exactly one trial (a request or a probe) is let through;
  success -> healthy, failure -> ejected again for longer.

Cooldowns are announced as they are set (`on_cooling`), so that other replicas can honour them
(router.cooldowns shares them through the state store), and cooldowns set elsewhere arrive
through `apply()`; scores, windows and backoffs stay this replica's own.

Panic rule: when fewer than `panic_share` of a target's capable backends take traffic, ejections
and half-open gating are ignored for that request rather than failing it. Waits the upstream
asked for (429, daily quota, bad key) are never ignored: sending anyway cannot succeed and
burns the quota further."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from cachetools import LRUCache

from router.clock import Clock
from router.logs import log_transition
from router.metrics import Metrics
from router.scoring import Latency, Mark, OutcomeWindow, ScorePolicy, WindowCounts, score
from router.types import Backend, Candidate, FailureReason, Outcome


class State(enum.Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    COOLING = "cooling"
    HALF_OPEN = "half_open"


class CoolingKind(enum.Enum):
    WAIT = "wait"  # the upstream asked for it: 429, a daily quota, a rejected key
    EJECT = "eject"  # the backend's own failures: outlier ejection


@dataclass(frozen=True, slots=True)
class Cooling:
    """A cooldown, as it is shared: `name` is a backend id, or a provider's name when
    `provider_wide`; `until` is on the tracker's monotonic clock."""

    name: str
    provider_wide: bool
    kind: CoolingKind
    until: float
    reason: FailureReason


# A cooldown heard back within this of one already held is the same one (clock conversions
# between replicas differ by microseconds), not a new one to apply.
SAME_COOLDOWN_S = 0.05


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    score: ScorePolicy = field(default_factory=ScorePolicy)
    degraded_below: float = 0.8
    # No failure rate is judged on fewer outcomes than this: a backend failing 20% of the time
    # (flaky, but most of its quota still answers) must not be ejected by a run of bad luck.
    eject_min_requests: int = 10
    eject_failure_rate: float = 0.5
    # A quiet backend (a probe or two per window) failing every time is ejected all the same,
    # once its run of failures spans this long: a burst of concurrent requests whose quick
    # errors land before their slower successes is not such a run.
    eject_consecutive: int = 5
    eject_consecutive_span_s: float = 30.0
    eject_base_s: float = 10.0
    eject_max_s: float = 300.0
    forget_ejections_after_s: float = 600.0  # healthy this long: the backoff starts over
    rate_limit_default_s: float = 30.0  # a 429 without any hint
    panic_share: float = 0.5
    trial_wait_s: float = 1.0  # Retry-After when the only way in is a trial already under way


@dataclass(frozen=True, slots=True)
class _Reaction:
    """What one failure reason does to a backend."""

    mark: Mark
    default_cooldown: Callable[[HealthPolicy], float]  # when the upstream gave no hint


def _none(_: HealthPolicy) -> float:
    return 0.0


def _rate_limit(p: HealthPolicy) -> float:
    return p.rate_limit_default_s


_REACTIONS: Mapping[FailureReason, _Reaction] = MappingProxyType({
    FailureReason.TIMEOUT: _Reaction(Mark.FAILURE, _none),
    FailureReason.CONNECT: _Reaction(Mark.FAILURE, _none),
    FailureReason.SERVER_ERROR: _Reaction(Mark.FAILURE, _none),
    FailureReason.BAD_RESPONSE: _Reaction(Mark.FAILURE, _none),
    FailureReason.STREAM_ERROR: _Reaction(Mark.FAILURE, _none),
    # A quota, not a sickness: it cools for as long as the upstream says, never ejects.
    FailureReason.RATE_LIMITED: _Reaction(Mark.LIMITED, _rate_limit),
    # A wrong key comes with a long hint from the classifier; without one (moderation, a request
    # over this upstream's size limit) it is the request's fault and nothing cools.
    FailureReason.CLIENT_ERROR: _Reaction(Mark.LIMITED, _none),
    FailureReason.BUDGET: _Reaction(Mark.LIMITED, _none),
})


@dataclass(slots=True)
class _Health:
    """One backend's mutable health, written only by HealthTracker."""

    backend_id: str
    provider: str
    window: OutcomeWindow
    latency: Latency
    consecutive: int = 0
    consecutive_since: float = 0.0
    ejections: int = 0
    recovered_at: float = float("-inf")
    eject_until: float = 0.0
    eject_reason: FailureReason | None = None
    wait_until: float = 0.0  # the upstream asked us to wait (429, daily quota, bad key)
    wait_reason: FailureReason | None = None
    trial_pending: bool = False
    trial_inflight: bool = False
    requests: int = 0
    failures: int = 0
    inflight: int = 0
    state: State = State.HEALTHY
    reported_score: float = -1.0
    reported_up: bool = False
    # The last view, good until `view_until` unless an outcome, begin() or end() drops it:
    # candidates() reads every capable backend on every request and must stay cheap.
    view: _View | None = None
    view_until: float = 0.0


SCORE_REFRESH_S = 1.0  # a cached candidate's score is at most this old


@dataclass(frozen=True, slots=True)
class _Chosen:
    backends: Sequence[Backend]  # kept, so that its id() stays unique while cached
    generation: int
    valid_until: float
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class _View:
    state: State
    score: float
    counts: WindowCounts
    cooling_until: float  # 0.0 unless cooling
    reason: FailureReason | None
    told_to_wait: bool  # cooling because the upstream said so: the panic rule keeps it out
    busy_trial: bool  # half-open with its one trial under way
    open: bool  # takes traffic now

    def cooldown_s(self, now: float) -> float:
        return max(self.cooling_until - now, 0.0)


class HealthTracker:
    def __init__(
        self, clock: Clock, metrics: Metrics | None = None, policy: HealthPolicy | None = None,
        on_cooling: Callable[[Cooling], None] | None = None,
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self.policy = policy or HealthPolicy()
        self._on_cooling = on_cooling
        self._health: dict[str, _Health] = {}
        self._provider_wait: dict[str, tuple[float, FailureReason]] = {}
        # candidates() per capable-backends tuple, reused while no view changed: a route of
        # a thousand backends must not cost a thousand view reads per request.
        self._generation = 0  # bumped whenever any backend's view is dropped
        self._chosen: LRUCache[int, _Chosen] = LRUCache(1024)

    # -- state ----------------------------------------------------------------------------------

    def _get(self, backend_id: str, provider: str) -> _Health:
        h = self._health.get(backend_id)
        if h is None:
            h = self._health[backend_id] = _Health(
                backend_id, provider, OutcomeWindow(self.policy.score), Latency(self.policy.score))
            until, _ = self._provider_wait.get(provider, (0.0, None))
            if until > self._clock.monotonic():
                h.trial_pending = True  # born into a provider-wide wait: it too gets a trial
        return h

    def _view(self, h: _Health, now: float) -> _View:
        if h.view is not None and now < h.view_until:
            return h.view
        counts = h.window.counts(now)
        value = score(counts, h.latency.ewma, self.policy.score)
        wait_until, wait_reason = h.wait_until, h.wait_reason
        p_until, p_reason = self._provider_wait.get(h.provider, (0.0, None))
        if p_until > wait_until:
            wait_until, wait_reason = p_until, p_reason
        # The score changes when the oldest outcome leaves the window; the state at a deadline.
        oldest = h.window.oldest()
        h.view_until = oldest + self.policy.score.window_s if oldest is not None else float("inf")
        if wait_until > now or h.eject_until > now:
            told = wait_until > now
            until = max(wait_until, h.eject_until)
            h.view_until = min(h.view_until, wait_until if told else h.eject_until)
            view = _View(State.COOLING, value, counts, until,
                         wait_reason if told else h.eject_reason, told, False, False)
        elif h.trial_pending:
            busy = h.trial_inflight
            view = _View(State.HALF_OPEN, value, counts, 0.0, None, False, busy, not busy)
        else:
            state = State.HEALTHY if value >= self.policy.degraded_below else State.DEGRADED
            view = _View(state, value, counts, 0.0, None, False, False, True)
        h.view = view
        self._sync(h, view)
        return view

    def _sync(self, h: _Health, view: _View) -> None:
        """Log a state change and keep the gauges current (on every recomputed view)."""
        if view.state is not h.state:
            cooldown = view.cooldown_s(self._clock.monotonic())
            log_transition(h.backend_id, h.state.value, view.state.value,
                           view.reason.value if view.reason else None,
                           cooldown if view.state is State.COOLING else None)
            h.state = view.state
        up = view.state in (State.HEALTHY, State.DEGRADED)
        if self._metrics is not None and (
            up is not h.reported_up or abs(view.score - h.reported_score) >= 0.005
        ):
            self._metrics.health(h.backend_id, round(view.score, 3), up)
            h.reported_score, h.reported_up = view.score, up

    def _observe(self, backend: Backend) -> _View:
        return self._view(self._get(backend.id, backend.provider), self._clock.monotonic())

    # -- producers ------------------------------------------------------------------------------

    def begin(self, backend: Backend) -> None:
        """A request is about to be sent to `backend`; if it is half-open, this is its trial."""
        h = self._get(backend.id, backend.provider)
        h.inflight += 1
        # Only a backend with a trial pending can be half-open: the others need no view.
        if h.trial_pending and self._view(h, self._clock.monotonic()).state is State.HALF_OPEN:
            h.trial_inflight = True
            h.view = None
            self._generation += 1

    def end(self, backend: Backend) -> None:
        """The request begun with begin() is over, whatever became of it."""
        h = self._get(backend.id, backend.provider)
        h.inflight = max(h.inflight - 1, 0)
        if h.trial_inflight:
            h.trial_inflight = False
            h.view = None
            self._generation += 1

    def record(self, outcome: Outcome, provider: str) -> None:
        h = self._get(outcome.backend_id, provider)
        now = self._clock.monotonic()
        if outcome.ok and not h.trial_pending and not outcome.probe:
            # The common case, once per proxied request. Without a trial pending, a success
            # opens or closes nothing (it may only move the score, or healthy <-> degraded),
            # so no cached candidate list changes: the view is recomputed, and a change of
            # state logged, when it is next read, not here.
            h.requests += 1
            self._succeeded(h, outcome, now, False)
            h.view = None
            return
        before = self._view(h, now)
        # A probe landing while a request is on trial does not decide the trial.
        is_trial = before.state is State.HALF_OPEN and not (outcome.probe and h.trial_inflight)
        if not outcome.probe:
            h.requests += 1
            h.failures += 0 if outcome.ok else 1
        if outcome.ok:
            self._succeeded(h, outcome, now, is_trial)
        else:
            self._failed(h, outcome, now, is_trial, before)
        h.view = None
        after = self._view(h, now)
        # Cached candidate lists are rebuilt at once when a backend opens or closes; a score
        # that merely drifts is picked up within SCORE_REFRESH_S, not on every request.
        if (after.open, after.told_to_wait, after.state) != (
            before.open, before.told_to_wait, before.state
        ):
            self._generation += 1

    def _succeeded(self, h: _Health, outcome: Outcome, now: float, is_trial: bool) -> None:
        h.window.add(now, Mark.OK)
        h.consecutive = 0
        if outcome.latency_s is not None:
            h.latency.add(outcome.latency_s)
        if is_trial:
            h.trial_pending = False
            h.recovered_at = now
            h.window.forgive()

    def _failed(self, h: _Health, outcome: Outcome, now: float, is_trial: bool,
                before: _View) -> None:
        reason = outcome.reason or FailureReason.BAD_RESPONSE
        reaction = _REACTIONS[reason]
        if outcome.probe and reason is FailureReason.RATE_LIMITED:
            # A 429 on GET /models limits the account, not one model.
            outcome = replace(outcome, provider_wide=True)
        h.window.add(now, reaction.mark)
        wait = self._hinted_wait(outcome, reaction)
        if wait > 0:
            self._wait(h, now + wait, reason, outcome.provider_wide)
        if reaction.mark is not Mark.FAILURE:
            return
        if h.consecutive == 0:
            h.consecutive_since = now
        h.consecutive += 1
        # A failed trial is ejected again at once; otherwise it takes a failure *rate*, judged
        # only on a backend in rotation (while half-open, the trial alone decides).
        judged = before.open and before.state is not State.HALF_OPEN and self._should_eject(h, now)
        if is_trial or judged:
            self._eject(h, now, reason)

    def _hinted_wait(self, outcome: Outcome, reaction: _Reaction) -> float:
        if outcome.until_epoch is not None:
            return max(outcome.until_epoch - self._clock.wall(), 0.0)
        if outcome.retry_after_s is not None:
            return max(outcome.retry_after_s, 0.0)
        return reaction.default_cooldown(self.policy)

    def _wait(self, h: _Health, until: float, reason: FailureReason, provider_wide: bool) -> None:
        self._extend_wait(h.backend_id, h.provider, until, reason, provider_wide)
        if self._on_cooling is not None:
            name = h.provider if provider_wide else h.backend_id
            self._on_cooling(Cooling(name, provider_wide, CoolingKind.WAIT, until, reason))

    def _extend_wait(self, backend_id: str | None, provider: str, until: float,
                     reason: FailureReason, provider_wide: bool) -> None:
        # A repeat only ever extends the wait: a second, shorter Retry-After is not a promise
        # that the first one was wrong.
        # A rate limit says when it ends: traffic resumes in full then. A trial request first
        # would leave the backend with one request in flight for the trial's duration, and a
        # pool whose backends all just came back from a 429 would answer 503s meanwhile.
        trial = reason is not FailureReason.RATE_LIMITED
        if backend_id is not None:
            h = self._get(backend_id, provider)
            if until > h.wait_until:
                h.wait_until, h.wait_reason = until, reason
            h.trial_pending = h.trial_pending or trial
            h.view = None
        if provider_wide:
            current, _ = self._provider_wait.get(provider, (0.0, reason))
            if until > current:
                self._provider_wait[provider] = (until, reason)
            for other in self._health.values():
                if other.provider == provider:
                    other.trial_pending = other.trial_pending or trial
                    other.view = None
        self._generation += 1

    def _should_eject(self, h: _Health, now: float) -> bool:
        p = self.policy
        counts = h.window.counts(now)
        by_rate = counts.total >= p.eject_min_requests and counts.failure_rate >= p.eject_failure_rate
        by_run = (h.consecutive >= p.eject_consecutive
                  and now - h.consecutive_since >= p.eject_consecutive_span_s)
        return by_rate or by_run

    def _eject(self, h: _Health, now: float, reason: FailureReason) -> None:
        p = self.policy
        if h.ejections and now - max(h.recovered_at, h.eject_until) > p.forget_ejections_after_s:
            h.ejections = 0
        h.ejections += 1
        backoff = min(p.eject_base_s * 2.0 ** (h.ejections - 1), p.eject_max_s)
        h.eject_until = max(h.eject_until, now + backoff)
        h.eject_reason = reason
        h.trial_pending = True
        h.consecutive = 0
        if self._on_cooling is not None:
            self._on_cooling(Cooling(h.backend_id, False, CoolingKind.EJECT, h.eject_until, reason))

    def apply(self, cooling: Cooling) -> None:
        """A cooldown another replica set (through the shared store): honoured here as if set
        here, except that it changes no score or backoff of this replica's, and is not
        announced again. One already held (this replica's own, heard back) changes nothing."""
        now = self._clock.monotonic()
        if cooling.until <= now:
            return
        provider = cooling.name if cooling.provider_wide else cooling.name.split("/", 1)[0]
        if cooling.kind is CoolingKind.WAIT:
            if cooling.provider_wide:
                held, _ = self._provider_wait.get(provider, (0.0, cooling.reason))
            else:
                held = self._get(cooling.name, provider).wait_until
            if cooling.until > held + SAME_COOLDOWN_S:
                self._extend_wait(None if cooling.provider_wide else cooling.name, provider,
                                  cooling.until, cooling.reason, cooling.provider_wide)
            return
        h = self._get(cooling.name, provider)
        if cooling.until > h.eject_until + SAME_COOLDOWN_S:
            h.eject_until, h.eject_reason = cooling.until, cooling.reason
            h.trial_pending = True
            h.view = None
            self._generation += 1

    # -- readers --------------------------------------------------------------------------------

    def candidates(
        self, backends: Sequence[Backend], exclude: Collection[str] = ()
    ) -> Sequence[Candidate]:
        """The backends a strategy may pick from now, with their scores. `backends` is every
        capable backend of the target (the panic rule is judged on all of them); `exclude`
        names those this request already tried."""
        now = self._clock.monotonic()
        cached = self._chosen.get(id(backends))
        if (cached is None or cached.backends is not backends
                or cached.generation != self._generation or now >= cached.valid_until):
            cached = self._choose(backends, now)
            self._chosen[id(backends)] = cached
        if not exclude:
            return cached.candidates  # a shared tuple: strategies only read it
        return [c for c in cached.candidates if c.backend.id not in exclude]

    def _choose(self, backends: Sequence[Backend], now: float) -> _Chosen:
        views: list[tuple[Backend, _View]] = []
        opened = 0
        valid_until = float("inf")
        for b in backends:
            h = self._health.get(b.id) or self._get(b.id, b.provider)
            view = h.view if h.view is not None and now < h.view_until else self._view(h, now)
            valid_until = min(valid_until, h.view_until)
            views.append((b, view))
            opened += view.open
        if opened < self.policy.panic_share * len(views):
            chosen = [Candidate(b, v.score) for b, v in views if v.open or not v.told_to_wait]
        else:
            chosen = [Candidate(b, v.score) for b, v in views if v.open]
        # The views were read now: the list holds until one of them changes state or expires,
        # and its scores are refreshed every SCORE_REFRESH_S.
        return _Chosen(backends, self._generation, min(valid_until, now + SCORE_REFRESH_S),
                       tuple(chosen))

    def refresh(self, backends: Iterable[Backend]) -> None:
        """Bring every backend's view up to date, with its gauges and the log line of a state
        change: a success records without recomputing the view, so GET /metrics asks first."""
        now = self._clock.monotonic()
        for b in backends:
            self._view(self._get(b.id, b.provider), now)

    def probe_wanted(self, backends: Sequence[Backend]) -> bool:
        """False when every backend waits on its upstream's word: a probe could only be told
        the same again, at the cost of the provider's budget."""
        return any(not self._observe(b).told_to_wait for b in backends)

    def wait_s(self, backend: Backend) -> float:
        """Seconds until `backend` could take a request: its cooldown or a running trial
        (budgets are router.budget's business)."""
        view = self._observe(backend)
        return self.policy.trial_wait_s if view.busy_trial else view.cooldown_s(self._clock.monotonic())

    def soonest_recovery(self, backends: Sequence[Backend]) -> float:
        return min((self.wait_s(b) for b in backends), default=0.0)

    def cooldown_left(self, backend: Backend) -> float:
        return self._observe(backend).cooldown_s(self._clock.monotonic())

    def state(self, backend: Backend) -> State:
        return self._observe(backend).state

    def status(self, backend: Backend) -> dict[str, object]:
        """One backend's row of GET /status, but for its budget."""
        view = self._observe(backend)
        h = self._get(backend.id, backend.provider)
        return {
            "id": backend.id, "provider": backend.provider,
            "state": view.state.value,
            "score": round(view.score, 3),
            "latency_ms_p50": h.latency.p50_ms(),
            "error_rate": round(view.counts.error_rate, 3),
            "cooldown_s": round(view.cooldown_s(self._clock.monotonic()), 1),
            "cooldown_reason": view.reason.value if view.reason else None,
            "requests": h.requests, "failures": h.failures, "inflight": h.inflight,
        }
