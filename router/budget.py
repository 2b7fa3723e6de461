"""Client-side budgets: the configured rpm/rpd/tpm/tpd of each backend (per model) and of each
provider account, checked and counted in one state-store call before a request is sent, so the
router stops short of a provider's limit instead of running into its 429s; with a shared store
the budget is the pool's, not each replica's. Plus what the provider itself reports is left, from
the quota of its successful answers (shared through the store: the replica that got the answer
hands it over, the others adopt it; a limit a provider states becomes a shared window like the
configured ones).

Each budget is a store Window (a sliding log): never sending more than `rpm` in any
`MINUTE_S + WINDOW_MARGIN_S` seconds keeps within whatever window a provider really uses (fixed
minute, sliding, token bucket of capacity rpm). A request reserves its token estimate (prompt plus
the output it is forwarded with, capped at min_output_tokens) in the token windows and 1 in the
request windows, in the same call; once the answer reports its usage, the estimate is replaced by
what was spent (`settle`), and an attempt that failed gives its tokens back. A backend without a
budget costs no store call. What the store last said (room left, a window full until when) is kept
here, so /status, the Retry-After of a 503 and the gauges read memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from router.clock import Clock
from router.config import Config
from router.metrics import Metrics
from router.state.store import Full, Report, Reservation, StateStore, Window
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
# The Retry-After of a token window held by a reservation still in flight here: its answer's
# usage will replace the estimate (usually by less) within about as long as a request takes, so
# the honest wait is short, not the day a tpd entry takes to leave. As the health tracker's
# Retry-After when the only way in is a trial under way.
IN_FLIGHT_RETRY_S = 1.0
# A reservation is counted in flight for at most this long (a provider's total_timeout_s
# default): one whose settlement never came (an attempt that broke before it was sent) stops
# shortening waits.
IN_FLIGHT_HORIZON_S = 600.0
# A token window a shared store called full is asked again after this long at most: another
# replica's settlement may have given tokens back (entries of a token window shrink).
SHARED_RECHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class Unit:
    """A kind of budget: its span, whether it counts a request's tokens or the request, and
    what it is in words (for an error message)."""

    span_s: float
    words: str
    tokens: bool = False


# Each budget kind (the config key, the /status `<unit>_left`, the gauge's `limit` label).
UNITS: Mapping[str, Unit] = MappingProxyType({
    "rpm": Unit(MINUTE_S, "requests per minute"), "rpd": Unit(DAY_S, "requests per day"),
    "tpm": Unit(MINUTE_S, "tokens per minute", tokens=True),
    "tpd": Unit(DAY_S, "tokens per day", tokens=True),
})


def in_words(units: Sequence[str]) -> str:
    """e.g. "tokens per minute", "tokens per minute or tokens per day"."""
    return " or ".join(UNITS[u].words for u in units)


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None

    def merged(self, stated: Limits) -> Limits:
        """These limits, each replaced by the one `stated` gives where it gives one."""
        return Limits(*(getattr(stated, u) if getattr(stated, u) is not None else getattr(self, u)
                        for u in UNITS))


NO_LIMITS = Limits()
ProviderLimits = Callable[[str], Limits]
# Hands the reports of one answer over, to be shared (synchronous: on the answer path).
OnReport = Callable[[Sequence[Report]], None]
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
            return Limits(p.rpm, p.rpd, p.tpm, p.tpd)
    return NO_LIMITS


@dataclass(frozen=True, slots=True)
class BudgetLeft:
    """The /status `budget` object: one `<unit>_left` per row of UNITS (None: no such budget)."""

    rpm_left: int | None = None
    rpd_left: int | None = None
    tpm_left: int | None = None
    tpd_left: int | None = None

    def items(self) -> list[tuple[str, int | None]]:
        return [(unit, getattr(self, f"{unit}_left")) for unit in UNITS]


@dataclass(slots=True)
class _Reported:
    """What the provider said is left, and how much we sent since it said so (requests, or
    tokens for a token count).

    The count is the provider's, refreshed by every answer on any replica (a shared store hands
    it to the others), so each replica trusts the freshest one whole, the store up or down:
    dividing it among the replicas would lock one out until the reset whenever its part ran
    down between two answers, and a limit the provider states is shared (and split while the
    store is down) as a window anyway. Each replica counts its own sends against it. Once the reset
    time passes the count is back to the limit, not unlimited: for
    REPORT_TTL_S more it allows the reported limit (one request when the provider sent no limit
    and we had run the count down), so a backlog released at the reset is not all sent at once.
    The first answer after the reset brings a fresh report."""

    remaining: int
    until: float  # monotonic instant the count resets
    limit: int | None = None
    sent_since: int = 0
    sent_after_reset: int = 0
    as_of: float = 0.0  # epoch seconds the count was true (which of two reports is fresher)

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
        # Never below 0: a settled estimate gives back at most what it counted.
        if now < self.until:
            self.sent_since = max(self.sent_since + delta, 0)
        else:
            self.sent_after_reset = max(self.sent_after_reset + delta, 0)


@dataclass(frozen=True, slots=True)
class Ticket:
    """What one attempt was granted: its store reservation and the token part of it, which
    `Budgets.settle` replaces with what the answer really used."""

    reservation: Reservation
    # The tokens counted in token budgets: the estimate, or (reserve's `most`) what an upstream
    # that counts declared output may be told to declare (0: the backend has no token budget).
    tokens: int = 0
    reports: tuple[_Reported, ...] = ()  # provider-reported token counts it was counted against
    stored: bool = False  # whether the estimate is in store windows (else only in reports)


FREE = Ticket(UNLIMITED)


@dataclass(frozen=True, slots=True)
class _Full:
    """What the store said of a window it had no room in: none for a charge of `need` or more
    before `until`. Until `recheck` (`until`, but sooner for a shared token window) asking it
    again for as much is a wasted round trip."""

    until: float
    need: int
    recheck: float


@dataclass(frozen=True, slots=True)
class _Plan:
    """A backend's windows as last built, and what they were built from."""

    backend: Backend
    provider: Limits
    learned: Limits
    windows: tuple[Window, ...]
    tokens_limit: int | None  # the tightest token window: no estimate above it ever fits


class Budgets:
    def __init__(self, store: StateStore, clock: Clock, metrics: Metrics | None = None,
                 provider_limits: ProviderLimits = lambda _: NO_LIMITS,
                 on_report: OnReport | None = None) -> None:
        self._store = store
        self._on_report = on_report
        self._clock = clock
        self._metrics = metrics
        self._provider_limits = provider_limits
        self._plans: dict[str, _Plan] = {}  # backend id -> its windows
        # The limits providers state (x-ratelimit-limit-*, Groq's "Limit N" in a 413), per
        # backend: the same for every replica, so they become shared windows like the
        # configured ones.
        self._learned: dict[str, Limits] = {}
        self._rooms: dict[str, int] = {}  # window key -> room the store last reported
        # window key -> when it has room again, as the store said: entries only ever leave a
        # window (or shrink, when settled), so until then asking again for as much is a wasted
        # round trip (a smaller token estimate may still fit).
        self._full_until: dict[str, _Full] = {}
        # reservation token -> (when, ticket): this replica's token reservations in flight,
        # whose settlement may give tokens back.
        self._in_flight: dict[str, tuple[float, Ticket]] = {}
        self._reported: dict[str, dict[str, _Reported]] = {}  # backend id -> unit -> report
        # Recent sends per backend (instant, token estimate): those still in flight when a
        # report was written are not in it.
        self._recent: dict[str, deque[tuple[float, int]]] = {}

    def _plan(self, backend: Backend) -> _Plan:
        prov = self._provider_limits(backend.provider)
        learned = self._learned.get(backend.id, NO_LIMITS)
        cached = self._plans.get(backend.id)
        # On the request path: identities (the runtime holds its provider limits, learned ones
        # are replaced whole), the equalities only when one was rebuilt; never a Backend's hash.
        if (cached is not None and cached.backend is backend
                and (cached.provider is prov or cached.provider == prov)
                and (cached.learned is learned or cached.learned == learned)):
            return cached
        own = Limits(backend.rpm, backend.rpd, backend.tpm, backend.tpd)
        candidates = [(f"backend:{backend.id}", u, _tighter(getattr(own, u), getattr(learned, u)))
                      for u in UNITS]
        candidates += [(f"provider:{backend.provider}", u, getattr(prov, u)) for u in UNITS]
        found = tuple(Window(f"{scope}:{u}", limit, UNITS[u].span_s + WINDOW_MARGIN_S,
                             per_request=not UNITS[u].tokens)
                      for scope, u, limit in candidates if limit is not None)
        tokens_limit = min((w.limit for w in found if not w.per_request), default=None)
        if len(self._plans) >= MAX_REMEMBERED:
            self._plans.clear()
        plan = self._plans[backend.id] = _Plan(backend, prov, learned, found, tokens_limit)
        return plan

    def windows(self, backend: Backend) -> tuple[Window, ...]:
        """Every budget of `backend`: its model's (the tighter of the configured one and the
        one its provider states) and its provider account's."""
        return self._plan(backend).windows

    def too_small(self, wanted: Iterable[tuple[Backend, int]]) -> tuple[str, ...]:
        """The kinds of token budget (config words, in UNITS order) that leave out a request of
        `tokens` at each of its `backend`s: any of theirs, configured or stated, below it. A
        backend a 413 left out without stating its limit is out by its tokens per minute."""
        short = {w.key.rsplit(":", 1)[1] for backend, tokens in wanted
                 for w in self._plan(backend).windows if not w.per_request and w.limit < tokens}
        return tuple(u for u in UNITS if u in short) or ("tpm",)

    def fits(self, backend: Backend, tokens: int) -> bool:
        """Whether a request of `tokens` (its estimate) can ever be sent to `backend`: no token
        window of it is smaller (a stated limit may be tighter than the configured one)."""
        limit = self._plan(backend).tokens_limit
        return limit is None or tokens <= limit

    # -- sending ------------------------------------------------------------------------------

    async def reserve(self, backend: Backend, tokens: int = 0,
                      most: int | None = None) -> Ticket | None:
        """Count one request, and `tokens` (its estimate) in the token budgets, against every
        budget of `backend` if each has room (None: it has not, or never will: see fits(); and
        nothing was counted). With `most`, as many tokens as the budgets have up to `most`, but
        no fewer than `tokens`: for an upstream that counts the output a request declares, which
        then declares what it was granted. A backend without budgets makes no store call, and
        one known to be full until later makes none either."""
        now = self._clock.monotonic()
        plan = self._plan(backend)
        windows, limit = plan.windows, plan.tokens_limit
        floor = max(tokens, 1)
        cost = max(most or 0, floor)
        if limit is not None:
            if floor > limit:
                return None
            cost = min(cost, limit)
        if windows and self._known_full(windows, now, floor):
            return None
        reports = self._reported.get(backend.id)
        token_reports: list[_Reported] = []
        if reports:
            if self._reported_out(reports, now, tokens):
                return None
            token_reports = [r for u, r in reports.items() if UNITS[u].tokens] if tokens else []
            for report in token_reports:  # what the provider says it has left
                if (left := report.left(now)) is not None:
                    cost = max(min(cost, left), floor)
            self._count(reports, now, cost if tokens else 0, 1)  # before the await: others see it
        result: Reservation | Full = UNLIMITED
        if windows:
            result = await self._store.reserve(windows, cost)
            fit = self._fit(windows, result, floor, cost)
            if fit is not None:  # not as much as hoped: as much as every window has, or (to
                # learn how long the estimate itself must wait) the estimate
                if reports:
                    self._count(reports, now, fit - cost, 0)
                cost = fit
                result = await self._store.reserve(windows, cost)
            self._remember(windows, result.rooms, result.waits, now,
                           cost if isinstance(result, Full) else 1)
        if isinstance(result, Full):
            if reports:
                self._count(reports, now, -cost if tokens else 0, -1)
            return None
        counts_tokens = limit is not None or bool(token_reports)
        spent = cost if tokens and counts_tokens else 0
        # What a report that comes while this is in flight may not count yet (see observe()).
        self._sent(backend.id, now, spent or tokens)
        if not counts_tokens:
            return FREE if result is UNLIMITED else Ticket(result)
        ticket = Ticket(result, spent, tuple(token_reports), limit is not None)
        if ticket.stored and spent:
            if len(self._in_flight) >= MAX_REMEMBERED:
                self._in_flight.clear()
            self._in_flight[result.token] = (now, ticket)
        return ticket

    @staticmethod
    def _count(reports: Mapping[str, _Reported], now: float, tokens: int, requests: int) -> None:
        """Count `tokens` against the token reports and `requests` against the request ones."""
        for unit, report in reports.items():
            delta = tokens if UNITS[unit].tokens else requests
            if delta:
                report.count(now, delta)

    @staticmethod
    def _fit(windows: Sequence[Window], result: Reservation | Full, floor: int,
             cost: int) -> int | None:
        """After a refusal of `cost`: what to ask for instead, the smaller cost every window had
        room for, but no less than `floor` (None: nothing smaller was refused; or a request
        window is full, and that is all there is to know)."""
        if not isinstance(result, Full) or cost <= floor:
            return None
        if any(wait > 0 for w, wait in zip(windows, result.waits, strict=False) if w.per_request):
            return None
        fit = min((room for w, room in zip(windows, result.rooms, strict=True)
                   if not w.per_request), default=0)
        return min(max(fit, floor), cost - 1)

    def _sent(self, backend_id: str, now: float, tokens: int) -> None:
        recent = self._recent.get(backend_id)
        if recent is None:
            if len(self._recent) >= MAX_REMEMBERED:
                self._recent.clear()
            recent = self._recent[backend_id] = deque(maxlen=RECENT_SENDS)
        recent.append((now, tokens))

    async def settle(self, ticket: Ticket, used: int | None) -> None:
        """Replace the token estimate `ticket` reserved with what was really `used` (the
        answer's reported prompt + completion), at the reservation's instant; 0 gives it all
        back (its request stays counted: it was sent), None keeps the estimate (no usage was
        reported). A ticket without token budgets makes no store call."""
        self._in_flight.pop(ticket.reservation.token, None)
        if used is None or not ticket.tokens or used == ticket.tokens:
            return
        now = self._clock.monotonic()
        for report in ticket.reports:  # one replaced by a fresher report since is not read
            report.count(now, used - ticket.tokens)
        if not ticket.stored:
            return
        windows = ticket.reservation.windows
        adjusted = await self._store.adjust(ticket.reservation, used)
        self._remember(windows, adjusted.rooms)
        if used < ticket.tokens:  # room came back: a window known full may have it again
            for window in windows:
                if not window.per_request:
                    self._full_until.pop(window.key, None)

    async def probe_slot(self, provider: str) -> bool:
        """A probe counts against its provider's minute (a GET /models is a request to the
        account) but never against day budgets, and it never takes the last PROBE_RESERVE
        requests of the minute from real traffic."""
        limit = self._provider_limits(provider).rpm
        if limit is None:
            return True
        if limit <= PROBE_RESERVE:
            return False
        key = f"provider:{provider}:rpm"
        result = await self._store.reserve(
            [Window(key, limit - PROBE_RESERVE, MINUTE_S + WINDOW_MARGIN_S, per_request=True)])
        if isinstance(result, Reservation):
            self._rooms[key] = result.rooms[0] + PROBE_RESERVE
        return isinstance(result, Reservation)

    def _known_full(self, windows: Sequence[Window], now: float, cost: int) -> bool:
        """Whether one of `windows` is known to be too full for `cost` (the store need not be
        asked)."""
        full = False
        for window in windows:
            held = self._full_until.get(window.key)
            if held is None:
                continue
            if held.until <= now:
                del self._full_until[window.key]
            elif now < held.recheck and window.charge(cost) >= held.need:
                full = True
        return full

    def _window_wait(self, window: Window, now: float, cost: int, told: bool) -> float:
        """Seconds until `window` has room for `cost` as the store last said (0: no refusal
        known), but short while a reservation in flight here holds what is missing (see
        IN_FLIGHT_RETRY_S). `told`: a client's Retry-After, never more than the window's own
        minute or day (its margin keeps the router inside the provider's window; a client
        need not wait it out)."""
        held = self._full_until.get(window.key)
        if held is None or held.until <= now or window.charge(cost) < held.need:
            return 0.0
        wait = held.until - now
        if told:
            wait = min(wait, UNITS[window.key.rsplit(":", 1)[1]].span_s)
        if not window.per_request and wait > IN_FLIGHT_RETRY_S:
            missing = held.need - self._rooms.get(window.key, 0)
            if self._settling(window.key, now) >= missing:
                wait = IN_FLIGHT_RETRY_S
        return wait

    def _settling(self, key: str, now: float) -> int:
        """The tokens this replica's reservations in flight hold in window `key`."""
        held = 0
        for token, (at, ticket) in list(self._in_flight.items()):
            if now - at >= IN_FLIGHT_HORIZON_S:
                del self._in_flight[token]
            elif any(w.key == key for w in ticket.reservation.windows):
                held += ticket.tokens
        return held

    def refill_in(self, backend: Backend, tokens: int = 1) -> float:
        """Seconds until `backend` may be sent one more request of `tokens` (0 when it may try
        now), as far as this replica knows: what the store said when it last refused, and what
        the provider reported; when a reservation in flight here may give back what is
        missing, IN_FLIGHT_RETRY_S (the time to look again)."""
        return self._refill_in(backend, tokens, told=False)

    def retry_after(self, backend: Backend, tokens: int = 1) -> float:
        """refill_in() as a client is told it (a 503's Retry-After): the wait of a window, or
        of a provider's count, is never more than its minute or day, though the router keeps
        its margin itself."""
        return self._refill_in(backend, tokens, told=True)

    def _refill_in(self, backend: Backend, tokens: int, told: bool) -> float:
        now = self._clock.monotonic()
        plan = self._plan(backend)
        cost = max(tokens, 1) if plan.tokens_limit is not None else 1
        wait = max((self._window_wait(w, now, cost, told) for w in plan.windows), default=0.0)
        for unit, report in self._reported.get(backend.id, {}).items():
            need = max(tokens, 1) if UNITS[unit].tokens else 1
            left = report.left(now)
            if left is not None and left < need:
                # A client is told no more than the count's minute (or day) either: a reset
                # a provider gives as "59.99s" must not read as 61.
                refill = report.refill_at(now) - now
                wait = max(wait, min(refill, UNITS[unit].span_s) if told else refill)
        return max(wait, 0.0)

    @staticmethod
    def _reported_out(reports: Mapping[str, _Reported], now: float, tokens: int) -> bool:
        for unit, report in reports.items():
            need = tokens if UNITS[unit].tokens else 1
            left = report.left(now) if need else None
            if left is not None and left < need:
                return True
        return False

    # -- what the provider reports ------------------------------------------------------------

    def learn(self, backend_id: str, stated: Limits) -> None:
        """Limits a provider states (its headers, or an error's message): each becomes the
        backend's window of that kind, the tighter of it and the configured one, shared
        through the store."""
        old = self._learned.get(backend_id, NO_LIMITS)
        new = old.merged(stated)
        if new != old:
            if len(self._learned) >= MAX_REMEMBERED:
                self._learned.clear()
            self._learned[backend_id] = new

    def observe(self, backend_id: str, quota: Quota, latency_s: float | None = None,
                tokens: int = 0) -> None:
        """The quota a successful answer reported: what the provider says is left until when.
        `latency_s` is how long ago the answered request was sent, and `tokens` what it was
        counted as (its ticket's tokens, else its estimate): what we sent since may not be
        counted in the report yet, so it is counted against it."""
        now, wall = self._clock.monotonic(), self._clock.wall()
        # Sends from (about) when the answered request left on, itself excepted: the report
        # was written when it arrived, before (some of) the others did.
        since = now - (latency_s or 0.0) - SEND_SLACK_S
        recent = [cost for t, cost in self._recent.get(backend_id, ()) if t >= since]
        unseen = {False: max(len(recent) - 1, 0), True: max(sum(recent) - tokens, 0)}
        if (quota.requests_limit is not None or quota.day_limit is not None
                or quota.tokens_limit is not None):
            self.learn(backend_id, Limits(quota.requests_limit, quota.day_limit, quota.tokens_limit))
        reports = (("rpm", quota.requests_remaining, quota.requests_reset_epoch, quota.requests_limit),
                   ("rpd", quota.day_remaining, quota.day_reset_epoch, quota.day_limit),
                   ("tpm", quota.tokens_remaining, quota.tokens_reset_epoch, quota.tokens_limit))
        as_of = wall - (now - since)
        shared: list[Report] = []
        for unit, remaining, reset, limit in reports:
            if remaining is None:
                continue
            ttl = min(reset - wall if reset is not None and reset > wall else REPORT_TTL_S, DAY_S)
            unseen_here = unseen[UNITS[unit].tokens]
            self._held(backend_id)[unit] = _Reported(remaining, now + ttl, limit,
                                                     sent_since=unseen_here, as_of=as_of)
            # For the others: less what this replica sent that the count does not hold yet.
            shared.append(Report(f"backend:{backend_id}:{unit}", max(remaining - unseen_here, 0),
                                 wall + ttl, as_of, limit))
        if shared and self._on_report is not None:
            self._on_report(shared)

    def share(self, reports: Iterable[Report]) -> None:
        """Counts other replicas heard (a shared store's `reports()`), each adopted where it is
        fresher than the one held here, with what this replica sent since counted against it
        (the others count their own)."""
        now, wall = self._clock.monotonic(), self._clock.wall()
        for report in reports:
            scope, _, rest = report.key.partition(":")
            backend_id, _, unit = rest.rpartition(":")
            if scope != "backend" or not backend_id or unit not in UNITS:
                continue  # written by another version: not ours to read
            current = self._reported.get(backend_id, {}).get(unit)
            if current is not None and current.as_of >= report.as_of_epoch:
                continue  # this replica's own, or staler than what it heard since
            since = now - (wall - report.as_of_epoch)
            recent = [cost for t, cost in self._recent.get(backend_id, ()) if t >= since]
            sent = sum(recent) if UNITS[unit].tokens else len(recent)
            self._held(backend_id)[unit] = _Reported(
                report.remaining, now + (report.until_epoch - wall), report.limit,
                sent_since=sent, as_of=report.as_of_epoch)

    def _held(self, backend_id: str) -> dict[str, _Reported]:
        held = self._reported.get(backend_id)
        if held is None:
            if len(self._reported) >= MAX_REMEMBERED:
                self._reported.clear()
            held = self._reported[backend_id] = {}
        return held

    # -- what is left ---------------------------------------------------------------------------

    def _remember(self, windows: Sequence[Window], rooms: Sequence[int],
                  waits: Sequence[float] = (), now: float = 0.0, need: int = 1) -> None:
        """What the store said of `windows`: their rooms, and (`waits`) how long each has no
        room for `need` (a refused estimate, else one more unit)."""
        if len(self._rooms) >= MAX_REMEMBERED:
            self._rooms.clear()
            self._full_until.clear()
        for window, room in zip(windows, rooms, strict=True):
            self._rooms[window.key] = room
        for window, wait in zip(windows, waits, strict=False):
            if wait > 0:
                trust = wait if window.per_request or not self._store.shared else min(
                    wait, SHARED_RECHECK_S)
                self._full_until[window.key] = _Full(now + wait, window.charge(need), now + trust)

    async def refresh(self, backends: Iterable[Backend]) -> None:
        """Ask the store what every budget of `backends` has left now (one call), for /status
        and the gauges (set here only: /metrics refreshes before it answers, so the request
        path never spends time on them). Windows refill as time passes, requests or not. A
        shared store is asked for the reports other replicas heard too (a second call)."""
        listed = list(backends)
        windows = list({w.key: w for b in listed for w in self.windows(b)}.values())
        if windows:
            self._remember(windows, await self._store.room(windows))
        if self._store.shared:
            self.share(await self._store.reports())
        for backend in listed:
            self._report_left(backend)

    def left(self, backend: Backend) -> BudgetLeft:
        """The smallest room among the backend's budgets of each kind (None: no such budget),
        as the store last said and the provider last reported."""
        now = self._clock.monotonic()
        left: dict[str, list[int]] = {unit: [] for unit in UNITS}
        for window in self.windows(backend):
            left[window.key.rsplit(":", 1)[1]].append(self._rooms.get(window.key, window.limit))
        for unit, report in self._reported.get(backend.id, {}).items():
            if (n := report.left(now)) is not None:
                left[unit].append(n)
        return BudgetLeft(**{f"{unit}_left": min(rooms, default=None)
                             for unit, rooms in left.items()})

    def _report_left(self, backend: Backend) -> None:
        if self._metrics is None:
            return
        for unit, n in self.left(backend).items():
            if n is not None:
                self._metrics.budget_left(backend.id, unit, n)
