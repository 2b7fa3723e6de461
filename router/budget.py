"""Client-side request budgets: the configured rpm/rpd of each backend (per model) and of each
provider account, checked and counted in one state-store call before a request is sent, so the
router stops short of a provider's limit instead of running into its 429s; with a shared store
the budget is the pool's, not each replica's. Plus what the provider itself reports is left, from
the quota of its successful answers (known to the replica that got the answer; a limit a provider
states becomes a shared window like the configured ones).

Each budget is a store Window (a sliding log): never sending more than `rpm` in any
`MINUTE_S + WINDOW_MARGIN_S` seconds keeps within whatever window a provider really uses (fixed
minute, sliding, token bucket of capacity rpm). A backend without a budget costs no store call.
What the store last said (room left, a window full until when) is kept here, so /status, the
Retry-After of a 503 and the gauges read memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from router.clock import Clock
from router.config import Config
from router.metrics import Metrics
from router.state.store import Full, Reservation, StateStore, Window
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
MAX_REMEMBERED = 100_000  # windows and backends remembered; a config has far fewer

# Each budget kind and its span; a request costs 1 in each. Token budgets (tpm, tpd) are two
# more rows whose cost is the request's token estimate.
UNITS: Mapping[str, float] = MappingProxyType({"rpm": MINUTE_S, "rpd": DAY_S})


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    rpd: int | None = None


NO_LIMITS = Limits()
ProviderLimits = Callable[[str], Limits]
# What a backend without any budget is granted: nothing counted, nothing to give back.
UNLIMITED = Reservation((), 0, "", ())


def _tighter(configured: int | None, stated: int | None) -> int | None:
    if configured is None or stated is None:
        return configured if stated is None else stated
    return min(configured, stated)


def provider_limits(config: Config, name: str) -> Limits:
    """The provider-account budgets a config sets for `name` (a handful of providers: a scan)."""
    for p in config.providers:
        if p.name == name:
            return Limits(p.rpm, p.rpd)
    return NO_LIMITS


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    """The /status `budget` object: one `<unit>_left` per row of UNITS (None: no such budget)."""

    rpm_left: int | None = None
    rpd_left: int | None = None

    def items(self) -> list[tuple[str, int | None]]:
        return [(unit, getattr(self, f"{unit}_left")) for unit in UNITS]


@dataclass(slots=True)
class _Reported:
    """What the provider said is left, and how many we sent since it said so.

    The count is the provider's, refreshed by every answer, so each replica trusts the last one
    it heard whole, the store up or down: dividing it among the replicas would lock one out
    until the reset whenever its part ran down between two answers, and a limit the provider
    states is shared (and split while the store is down) as a window anyway. Once the reset
    time passes the count is back to the limit, not unlimited: for
    REPORT_TTL_S more it allows the reported limit (one request when the provider sent no limit
    and we had run the count down), so a backlog released at the reset is not all sent at once.
    The first answer after the reset brings a fresh report."""

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

    def count(self, now: float, delta: int = 1) -> None:
        if now < self.until:
            self.sent_since += delta
        else:
            self.sent_after_reset += delta


class Budgets:
    def __init__(self, store: StateStore, clock: Clock, metrics: Metrics | None = None,
                 provider_limits: ProviderLimits = lambda _: NO_LIMITS) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._provider_limits = provider_limits
        # backend id -> (the Backend, its provider's limits, its stated ones, its windows)
        self._windows: dict[str, tuple[Backend, Limits, Limits, tuple[Window, ...]]] = {}
        # The limits providers state in their answers (x-ratelimit-limit-*), per backend: the
        # same for every replica, so they become shared windows like the configured ones.
        self._learned: dict[str, Limits] = {}
        self._rooms: dict[str, int] = {}  # window key -> room the store last reported
        # window key -> no room before this instant, as the store said: entries only ever
        # leave a window, so until then asking again is a wasted round trip.
        self._full_until: dict[str, float] = {}
        self._reported: dict[tuple[str, str], _Reported] = {}  # (backend id, unit)
        # Recent sends per backend: those still in flight when a report was written are not in it.
        self._recent: dict[str, deque[float]] = {}

    def windows(self, backend: Backend) -> tuple[Window, ...]:
        """Every budget of `backend`: its model's (the tighter of the configured one and the
        one its provider states) and its provider account's."""
        prov = self._provider_limits(backend.provider)
        learned = self._learned.get(backend.id, NO_LIMITS)
        cached = self._windows.get(backend.id)
        # On the request path: identity and two small equalities, never a Backend's hash.
        if cached is not None and cached[0] is backend and cached[1] == prov and cached[2] == learned:
            return cached[3]
        candidates = (
            (f"backend:{backend.id}", "rpm", _tighter(backend.rpm, learned.rpm)),
            (f"backend:{backend.id}", "rpd", _tighter(backend.rpd, learned.rpd)),
            (f"provider:{backend.provider}", "rpm", prov.rpm),
            (f"provider:{backend.provider}", "rpd", prov.rpd),
        )
        found = tuple(Window(f"{scope}:{unit}", limit, UNITS[unit] + WINDOW_MARGIN_S)
                      for scope, unit, limit in candidates if limit is not None)
        if len(self._windows) >= MAX_REMEMBERED:
            self._windows.clear()
        self._windows[backend.id] = (backend, prov, learned, found)
        return found

    # -- sending ------------------------------------------------------------------------------

    async def reserve(self, backend: Backend) -> Reservation | None:
        """Count one request against every budget of `backend` if each has room (None: it
        has not, and nothing was counted). A backend without budgets makes no store call, and
        one known to be full until later makes none either."""
        now = self._clock.monotonic()
        windows = self.windows(backend)
        if self._known_full(windows, now) > 0.0 or self._reported_out(backend.id, now):
            return None
        reports = [r for unit in UNITS if (r := self._reported.get((backend.id, unit)))]
        for report in reports:  # counted before the await: a concurrent request sees it
            report.count(now)
        result: Reservation | Full = UNLIMITED
        if windows:
            result = await self._store.reserve(windows)
            self._remember(windows, result.rooms, result.waits, now)
        if isinstance(result, Full):
            for report in reports:
                report.count(now, -1)
            return None
        recent = self._recent.get(backend.id)
        if recent is None:
            if len(self._recent) >= MAX_REMEMBERED:
                self._recent.clear()
            recent = self._recent[backend.id] = deque(maxlen=RECENT_SENDS)
        recent.append(now)
        return result

    async def probe_slot(self, provider: str) -> bool:
        """A probe counts against its provider's minute (a GET /models is a request to the
        account) but never against day budgets, and it never takes the last PROBE_RESERVE
        requests of the minute from real traffic."""
        limit = self._provider_limits(provider).rpm
        if limit is None:
            return True
        if limit <= PROBE_RESERVE:
            return False
        window = Window(f"provider:{provider}:rpm", limit, MINUTE_S + WINDOW_MARGIN_S)
        result = await self._store.reserve([Window(window.key, limit - PROBE_RESERVE, window.span_s)])
        if isinstance(result, Reservation):
            self._rooms[window.key] = result.rooms[0] + PROBE_RESERVE
        return isinstance(result, Reservation)

    def _known_full(self, windows: Sequence[Window], now: float) -> float:
        """Seconds until the last of `windows` known to be full has room again (0: none is)."""
        wait = 0.0
        for window in windows:
            until = self._full_until.get(window.key)
            if until is not None:
                if until > now:
                    wait = max(wait, until - now)
                else:
                    del self._full_until[window.key]
        return wait

    def refill_in(self, backend: Backend) -> float:
        """Seconds until `backend` may be sent one more request, as far as this replica knows
        (0 when it may try now): what the store said when it last refused, and what the
        provider reported."""
        now = self._clock.monotonic()
        wait = self._known_full(self.windows(backend), now)
        for unit in UNITS:
            report = self._reported.get((backend.id, unit))
            if report is not None and report.left(now) == 0:
                wait = max(wait, report.refill_at(now) - now)
        return max(wait, 0.0)

    def _reported_out(self, backend_id: str, now: float) -> bool:
        for unit in UNITS:
            report = self._reported.get((backend_id, unit))
            if report is not None and report.left(now) == 0:
                return True
        return False

    # -- what the provider reports ------------------------------------------------------------

    def observe(self, backend_id: str, quota: Quota, latency_s: float | None = None) -> None:
        """The quota a successful answer reported: what the provider says is left until when.
        `latency_s` is how long ago the answered request was sent: what we sent since may not
        be counted in the report yet, so it is counted against it."""
        now, wall = self._clock.monotonic(), self._clock.wall()
        # Sends from (about) when the answered request left on, itself excepted: the report
        # was written when it arrived, before (some of) the others did.
        since = now - (latency_s or 0.0) - SEND_SLACK_S
        unseen = max(sum(1 for t in self._recent.get(backend_id, ()) if t >= since) - 1, 0)
        learned = Limits(quota.requests_limit, quota.day_limit)
        if learned != NO_LIMITS and self._learned.get(backend_id) != learned:
            if len(self._learned) >= MAX_REMEMBERED:
                self._learned.clear()
            self._learned[backend_id] = learned
        # Token counts (quota.tokens_*) join here with the tpm/tpd units.
        reports = (("rpm", quota.requests_remaining, quota.requests_reset_epoch, quota.requests_limit),
                   ("rpd", quota.day_remaining, quota.day_reset_epoch, quota.day_limit))
        for unit, remaining, reset, limit in reports:
            if remaining is None:
                continue
            ttl = reset - wall if reset is not None and reset > wall else REPORT_TTL_S
            if len(self._reported) >= MAX_REMEMBERED:
                self._reported.clear()
            self._reported[(backend_id, unit)] = _Reported(
                remaining, now + min(ttl, DAY_S), limit, sent_since=unseen)

    # -- what is left ---------------------------------------------------------------------------

    def _remember(self, windows: Sequence[Window], rooms: Sequence[int],
                  waits: Sequence[float] = (), now: float = 0.0) -> None:
        if len(self._rooms) >= MAX_REMEMBERED:
            self._rooms.clear()
            self._full_until.clear()
        for window, room in zip(windows, rooms, strict=True):
            self._rooms[window.key] = room
        for window, wait in zip(windows, waits, strict=False):
            if wait > 0:
                self._full_until[window.key] = now + wait

    async def refresh(self, backends: Iterable[Backend]) -> None:
        """Ask the store what every budget of `backends` has left now (one call), for /status
        and the gauges (set here only: /metrics refreshes before it answers, so the request
        path never spends time on them). Windows refill as time passes, requests or not."""
        listed = list(backends)
        windows = list({w.key: w for b in listed for w in self.windows(b)}.values())
        if windows:
            self._remember(windows, await self._store.room(windows))
        for backend in listed:
            self._report_left(backend)

    def left(self, backend: Backend) -> BudgetLeft:
        """The smallest room among the backend's budgets of each kind (None: no such budget),
        as the store last said and the provider last reported."""
        now = self._clock.monotonic()
        left: dict[str, list[int]] = {unit: [] for unit in UNITS}
        for window in self.windows(backend):
            left[window.key.rsplit(":", 1)[1]].append(self._rooms.get(window.key, window.limit))
        for unit in UNITS:
            report = self._reported.get((backend.id, unit))
            if report is not None and (n := report.left(now)) is not None:
                left[unit].append(n)
        return BudgetLeft(**{f"{unit}_left": min(rooms, default=None)
                             for unit, rooms in left.items()})

    def _report_left(self, backend: Backend) -> None:
        if self._metrics is None:
            return
        for unit, n in self.left(backend).items():
            if n is not None:
                self._metrics.budget_left(backend.id, unit, n)
