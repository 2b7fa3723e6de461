"""The in-process state store: the default (one replica, nothing to run) and the local state a
shared store falls back on. Windows are sliding logs over the injected monotonic clock; the
stored Responses are bounded in count and bytes, oldest dropped first."""

from __future__ import annotations

import itertools
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from router.clock import Clock
from router.state.store import Cooldown, Full, Replicas, Report, Reservation, Window

MAX_RESPONSES = 10_000
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # well inside a pod's memory limit
_EXPIRY = struct.Struct("<d")  # a stored response's expiry, ahead of its blob


@dataclass(slots=True)
class _Entry:
    at: float
    cost: int
    token: str


class _Log:
    """One window's entries, oldest first, with their running total."""

    __slots__ = ("_by_token", "_entries", "total", "window")

    def __init__(self, window: Window) -> None:
        self.window = window  # the last one asked under this key (its limit may vary)
        self._entries: deque[_Entry] = deque()
        self._by_token: dict[str, _Entry] = {}
        self.total = 0

    def live(self) -> list[_Entry]:
        return [e for e in self._entries if self._by_token.get(e.token) is e]

    def prune(self, now: float, span: float) -> None:
        entries = self._entries
        while entries and entries[0].at <= now - span:
            gone = entries.popleft()
            if self._by_token.pop(gone.token, None) is gone:
                self.total -= gone.cost

    def add(self, entry: _Entry) -> None:
        self._entries.append(entry)  # in time order: the clock is monotonic
        self._by_token[entry.token] = entry
        self.total += entry.cost

    def adjust(self, token: str, cost: int) -> None:
        entry = self._by_token.get(token)
        if entry is None:
            return
        self.total += cost - entry.cost
        entry.cost = cost
        if cost == 0:
            del self._by_token[token]  # pruned later, counting nothing

    def frees_in(self, now: float, window: Window, cost: int) -> float:
        """Seconds until `cost` more fits (the whole span when it never can)."""
        need = self.total + cost - window.limit
        if cost > window.limit:
            return window.span_s
        for entry in self._entries:
            if self._by_token.get(entry.token) is entry:
                need -= entry.cost
                if need <= 0:
                    return max(entry.at + window.span_s - now, 0.0)
        return window.span_s


class MemoryStore:
    shared = False

    def __init__(self, clock: Clock, replica: str = "local", max_responses: int = MAX_RESPONSES,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self._clock = clock
        self._me = Replicas((replica,), replica)
        self._tokens = (f"{replica}:m{n}" for n in itertools.count())
        self._logs: dict[str, _Log] = {}
        self._cooldowns: dict[str, Cooldown] = {}
        self._reports: dict[str, Report] = {}
        # key -> its expiry (monotonic, a packed double) then its blob; the keys oldest first
        self._responses: dict[str, bytes] = {}
        self._order: deque[str] = deque()
        self._response_bytes = 0
        self._max_responses = max_responses
        self._max_response_bytes = max_response_bytes

    @property
    def up(self) -> bool:
        return True

    def replicas(self) -> Replicas:
        return self._me

    # -- windows ----------------------------------------------------------------------------

    def _log(self, window: Window, now: float) -> _Log:
        log = self._logs.get(window.key)
        if log is None:
            log = self._logs[window.key] = _Log(window)
        log.window = window
        log.prune(now, window.span_s)
        return log

    def grants(self) -> list[tuple[Reservation, float]]:
        """Every reservation still in a window, with how long ago it was made: what a shared
        store that lost its data must be told again."""
        now = self._clock.monotonic()
        found: dict[str, tuple[list[Window], list[int], float]] = {}
        for log in self._logs.values():
            log.prune(now, log.window.span_s)
            for entry in log.live():
                windows, costs, _ = found.setdefault(entry.token, ([], [], entry.at))
                windows.append(log.window)
                if not log.window.per_request:
                    costs.append(entry.cost)
        # The cost is what its cost-counting windows hold (its per-request ones count 1 anyway).
        return [(Reservation(tuple(windows), max(costs, default=1), token, ()), now - at)
                for token, (windows, costs, at) in found.items()]

    def reserve_now(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        """reserve() without a coroutine: nothing here waits."""
        now = self._clock.monotonic()
        logs = [self._log(w, now) for w in windows]
        rooms = tuple(max(w.limit - log.total, 0) for w, log in zip(windows, logs, strict=True))
        waits = tuple(log.frees_in(now, w, w.charge(cost)) if log.total + w.charge(cost) > w.limit
                      else 0.0 for w, log in zip(windows, logs, strict=True))
        if any(waits):
            return Full(max(waits), rooms, waits)
        return self.record(windows, cost, next(self._tokens))

    def record(self, windows: Sequence[Window], cost: int, token: str) -> Reservation:
        """Count a reservation now without asking for room (one the shared store granted):
        what this replica spent, whoever decided it."""
        at = self._clock.monotonic()
        rooms, waits = [], []
        for w in windows:
            log = self._log(w, at)
            log.add(_Entry(at, w.charge(cost), token))
            rooms.append(max(w.limit - log.total, 0))
            waits.append(log.frees_in(at, w, 1) if log.total + 1 > w.limit else 0.0)
        return Reservation(tuple(windows), cost, token, tuple(rooms), tuple(waits))

    async def reserve(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        return self.reserve_now(windows, cost)

    def _change(self, reservation: Reservation, cost: int, whole: bool) -> None:
        for w in reservation.windows:
            log = self._logs.get(w.key)
            if log is not None and (whole or not w.per_request):
                log.adjust(reservation.token, 0 if whole else cost)

    def adjust_now(self, reservation: Reservation, cost: int) -> Reservation:
        self._change(reservation, cost, whole=False)
        rooms = self.room_now(reservation.windows)
        return Reservation(reservation.windows, cost, reservation.token, rooms)

    async def adjust(self, reservation: Reservation, cost: int) -> Reservation:
        return self.adjust_now(reservation, cost)

    def refund_now(self, reservation: Reservation) -> None:
        self._change(reservation, 0, whole=True)

    async def refund(self, reservation: Reservation) -> None:
        self.refund_now(reservation)

    def room_now(self, windows: Sequence[Window]) -> tuple[int, ...]:
        now = self._clock.monotonic()
        return tuple(max(w.limit - self._log(w, now).total, 0) for w in windows)

    async def room(self, windows: Sequence[Window]) -> tuple[int, ...]:
        return self.room_now(windows)

    # -- cooldowns, replicas ----------------------------------------------------------------

    def set_cooldown_now(self, cooldown: Cooldown) -> None:
        current = self._cooldowns.get(cooldown.key)
        if current is None or cooldown.until_epoch > current.until_epoch:
            self._cooldowns[cooldown.key] = cooldown

    async def set_cooldown(self, cooldown: Cooldown) -> None:
        self.set_cooldown_now(cooldown)

    async def cooldowns(self) -> tuple[Cooldown, ...]:
        now = self._clock.wall()
        for key in [k for k, c in self._cooldowns.items() if c.until_epoch <= now]:
            del self._cooldowns[key]
        return tuple(self._cooldowns.values())

    # -- what providers report -------------------------------------------------------------

    def put_reports_now(self, reports: Sequence[Report]) -> None:
        now = self._clock.wall()
        for key in [k for k, r in self._reports.items() if r.until_epoch <= now]:
            del self._reports[key]
        for report in reports:
            held = self._reports.get(report.key)
            if report.until_epoch > now and (held is None
                                             or report.as_of_epoch >= held.as_of_epoch):
                self._reports[report.key] = report

    async def put_reports(self, reports: Sequence[Report]) -> None:
        self.put_reports_now(reports)

    async def reports(self) -> tuple[Report, ...]:
        now = self._clock.wall()
        return tuple(r for r in self._reports.values() if r.until_epoch > now)

    async def heartbeat(self) -> Replicas:
        return self._me

    # -- responses --------------------------------------------------------------------------

    def put_response_now(self, key: str, blob: bytes, ttl_s: float) -> None:
        if key in self._responses:  # kept again (rare): its old place in the order goes
            self._forget(key)
        now = self._clock.monotonic()
        order, held = self._order, self._responses
        while order:  # the expired ones first (oldest first, as TTLs are alike)
            oldest = order[0]
            if _expiry(held[oldest]) > now:
                break
            self._drop(order.popleft())
        if len(blob) > self._max_response_bytes:
            return  # bigger than the whole budget: not kept, as if already dropped
        # The expiry and the blob in one exact-size object. Exact-size: orjson's output sits in
        # a buffer several times its length, so keeping it as it comes would let the byte bound
        # account for an eighth of the memory really held. One object: entries that held a
        # tuple and a float as well, in an OrderedDict (a node each), cost about 5 % of the
        # Responses path's req/s at c=64 (docs/performance.md).
        held[key] = _EXPIRY.pack(now + ttl_s) + blob
        order.append(key)
        self._response_bytes += len(blob)
        while len(held) > self._max_responses or self._response_bytes > self._max_response_bytes:
            self._drop(order.popleft())

    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        self.put_response_now(key, blob, ttl_s)

    def response_ttl(self, key: str) -> float | None:
        """Seconds `key` has left, None when it is not held (a fallback replays with it)."""
        held = self._responses.get(key)
        if held is None:
            return None
        left = _expiry(held) - self._clock.monotonic()
        return left if left > 0 else None

    async def get_response(self, key: str) -> bytes | None:
        # An expired one is left for the next put to sweep: dropping it here would mean a
        # search of the order. The blob is copied out of its entry (one memcpy).
        held = self._responses.get(key)
        if held is None or _expiry(held) <= self._clock.monotonic():
            return None
        return held[_EXPIRY.size:]

    async def delete_response(self, key: str) -> bool:
        held = self._responses.get(key)
        if held is None:
            return False
        self._forget(key)
        return _expiry(held) > self._clock.monotonic()

    def _drop(self, key: str) -> None:
        """Forget `key`'s blob (its place in the order is the caller's business)."""
        held = self._responses.pop(key, None)
        if held is not None:
            self._response_bytes -= len(held) - _EXPIRY.size

    def _forget(self, key: str) -> None:
        """Drop a held key out of turn: a search of the order, for the rare delete or replace."""
        self._drop(key)
        self._order.remove(key)

    async def maintain(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _expiry(held: bytes) -> float:
    """When a stored response's entry expires (monotonic seconds)."""
    expires: float = _EXPIRY.unpack_from(held)[0]
    return expires
