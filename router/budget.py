"""Client-side request budgets: the configured rpm/rpd of each backend (per model) and of each
provider account, enforced before a request is sent, so the router stops short of a provider's
limit instead of running into its 429s. Plus what the provider itself reports is left, from the
quota headers of its successful answers.

Windows are sliding logs of send instants over the injected monotonic clock: whatever window a
provider really uses (fixed minute, sliding, token bucket of capacity rpm), never sending more than
`rpm` in any `MINUTE_S + WINDOW_MARGIN_S` seconds keeps within it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from router.clock import Clock
from router.config import Config
from router.types import Backend
from router.upstream import Quota

MINUTE_S = 60.0
DAY_S = 86400.0
# The provider counts a request when it arrives, we when we send it; network jitter between the
# two can put two requests inside its minute that were a minute apart here.
WINDOW_MARGIN_S = 0.5
# A remaining-count header with no reset time is trusted this long.
REPORT_TTL_S = 60.0
# Probes leave the last requests of a provider's minute to real traffic.
PROBE_RESERVE = 2
SEND_SLACK_S = 0.05  # between counting a request against its budget and sending it
RECENT_SENDS = 256  # per backend, for counting sends a quota report may not include yet


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    rpd: int | None = None


NO_LIMITS = Limits()
ProviderLimits = Callable[[str], Limits]


def provider_limits(config: Config, name: str) -> Limits:
    """The provider-account budgets a config sets for `name` (a handful of providers: a scan)."""
    for p in config.providers:
        if p.name == name:
            return Limits(p.rpm, p.rpd)
    return NO_LIMITS


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    rpm_left: int | None
    rpd_left: int | None


class _Window:
    """Send instants of the last `span` seconds; only the newest `limit` matter for a decision."""

    __slots__ = ("_sent", "_span")

    def __init__(self, span: float) -> None:
        self._span = span
        self._sent: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._span:
            self._sent.popleft()

    def left(self, now: float, limit: int) -> int:
        self._prune(now)
        return max(limit - len(self._sent), 0)

    def refill_in(self, now: float, limit: int) -> float:
        self._prune(now)
        over = len(self._sent) - limit
        if over < 0:
            return 0.0
        if limit <= 0:
            return self._span
        return max(self._sent[over] + self._span - now, 0.0)

    def add(self, now: float, limit: int) -> None:
        self._sent.append(now)
        while len(self._sent) > max(limit, 1):
            self._sent.popleft()


@dataclass(slots=True)
class _Reported:
    """What the provider said is left, and how many we sent since it said so.

    Once its reset time passes the count is back to the limit, not unlimited: for REPORT_TTL_S
    more it allows the reported limit (one request when the provider sent no limit and we had
    run the count down), so a backlog released at the reset is not all sent at once. The first
    answer after the reset brings a fresh report."""

    remaining: int
    until: float  # monotonic instant the count resets
    limit: int | None = None
    sent_since: int = 0
    sent_after_reset: int = 0

    def left(self, now: float) -> int | None:
        if now < self.until:
            return max(self.remaining - self.sent_since, 0)
        if now >= self.until + REPORT_TTL_S:
            return None
        if self.limit is not None:
            return max(self.limit - self.sent_after_reset, 0)
        if self.sent_since >= self.remaining:
            return max(1 - self.sent_after_reset, 0)
        return None

    def refill_at(self, now: float) -> float:
        return self.until if now < self.until else self.until + REPORT_TTL_S

    def count(self, now: float) -> None:
        if now < self.until:
            self.sent_since += 1
        else:
            self.sent_after_reset += 1


@dataclass(frozen=True, slots=True)
class _Bucket:
    key: tuple[str, str, str]  # (scope, name, "rpm" | "rpd")
    limit: int
    span: float


class Budgets:
    def __init__(self, clock: Clock, provider_limits: ProviderLimits = lambda _: NO_LIMITS) -> None:
        self._clock = clock
        self._provider_limits = provider_limits
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._reported: dict[tuple[str, str], _Reported] = {}  # (backend id, "rpm" | "rpd")
        # Recent sends per backend: those still in flight when a report was written are not in it.
        self._recent: dict[str, deque[float]] = {}

    def _buckets(self, backend: Backend) -> list[_Bucket]:
        prov = self._provider_limits(backend.provider)
        candidates = (
            (("backend", backend.id, "rpm"), backend.rpm, MINUTE_S),
            (("backend", backend.id, "rpd"), backend.rpd, DAY_S),
            (("provider", backend.provider, "rpm"), prov.rpm, MINUTE_S),
            (("provider", backend.provider, "rpd"), prov.rpd, DAY_S),
        )
        return [_Bucket(key, limit, span + WINDOW_MARGIN_S)
                for key, limit, span in candidates if limit is not None]

    def _window(self, bucket: _Bucket) -> _Window:
        window = self._windows.get(bucket.key)
        if window is None:
            window = self._windows[bucket.key] = _Window(bucket.span)
        return window

    def _reported_left(self, backend_id: str, now: float) -> dict[str, int]:
        out = {}
        for unit in ("rpm", "rpd"):
            report = self._reported.get((backend_id, unit))
            if report is not None and (left := report.left(now)) is not None:
                out[unit] = left
        return out

    def refill_in(self, backend: Backend, buckets: list[_Bucket] | None = None) -> float:
        """Seconds until `backend` may be sent one more request (0 when it may now)."""
        now = self._clock.monotonic()
        if buckets is None:
            buckets = self._buckets(backend)
        waits = [self._window(b).refill_in(now, b.limit) for b in buckets]
        for unit in ("rpm", "rpd"):
            report = self._reported.get((backend.id, unit))
            if report is not None and report.left(now) == 0:
                waits.append(report.refill_at(now) - now)
        return max(waits, default=0.0)

    def has_room(self, backend: Backend) -> bool:
        return self.refill_in(backend) <= 0.0

    def try_acquire(self, backend: Backend) -> bool:
        """Count one request against every budget of `backend`, if each has room; else False
        and nothing is counted. Check and count happen without an await in between, so two
        requests on the event loop never both take the last slot."""
        buckets = self._buckets(backend)
        if self.refill_in(backend, buckets) > 0.0:
            return False
        now = self._clock.monotonic()
        for bucket in buckets:
            self._window(bucket).add(now, bucket.limit)
        recent = self._recent.setdefault(backend.id, deque(maxlen=RECENT_SENDS))
        recent.append(now)
        for unit in ("rpm", "rpd"):
            report = self._reported.get((backend.id, unit))
            if report is not None:
                report.count(now)
        return True

    def try_acquire_probe(self, provider: str) -> bool:
        """A probe counts against its provider's minute (a GET /models is a request to the
        account) but never against day budgets, and it never takes the last PROBE_RESERVE
        requests of the minute from real traffic."""
        limit = self._provider_limits(provider).rpm
        if limit is None:
            return True
        bucket = _Bucket(("provider", provider, "rpm"), limit, MINUTE_S + WINDOW_MARGIN_S)
        window = self._window(bucket)
        now = self._clock.monotonic()
        if window.left(now, limit) <= PROBE_RESERVE:
            return False
        window.add(now, limit)
        return True

    def observe(self, backend_id: str, quota: Quota, latency_s: float | None = None) -> None:
        """The quota a successful answer reported: what the provider says is left until when.
        `latency_s` is how long ago the answered request was sent: what we sent since may not
        be counted in the report yet, so it is counted against it."""
        now, wall = self._clock.monotonic(), self._clock.wall()
        # Sends from (about) when the answered request left on, itself excepted: the report
        # was written when it arrived, before (some of) the others did.
        since = now - (latency_s or 0.0) - SEND_SLACK_S
        unseen = max(sum(1 for t in self._recent.get(backend_id, ()) if t >= since) - 1, 0)
        reports = (("rpm", quota.requests_remaining, quota.requests_reset_epoch, quota.requests_limit),
                   ("rpd", quota.day_remaining, quota.day_reset_epoch, quota.day_limit))
        for unit, remaining, reset, limit in reports:
            if remaining is None:
                continue
            ttl = reset - wall if reset is not None and reset > wall else REPORT_TTL_S
            self._reported[(backend_id, unit)] = _Reported(
                remaining, now + min(ttl, DAY_S), limit, sent_since=unseen)

    def left(self, backend: Backend) -> BudgetLeft:
        """The smallest room among the backend's budgets (None: no budget of that kind)."""
        now = self._clock.monotonic()
        left: dict[str, list[int]] = {"rpm": [], "rpd": []}
        for bucket in self._buckets(backend):
            left[bucket.key[2]].append(self._window(bucket).left(now, bucket.limit))
        for unit, n in self._reported_left(backend.id, now).items():
            left[unit].append(n)
        return BudgetLeft(min(left["rpm"], default=None), min(left["rpd"], default=None))
