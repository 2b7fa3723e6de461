"""The state-store seam: the facts replicas share. Budget windows (check-and-reserve a cost, then
adjust it to what was really spent), cooldowns with their reason and expiry, which replicas are
alive, what providers report is left of their limits, and stored Responses. Two
implementations: `MemoryStore` (this process only) and `RedisStore` (every replica naming the
same Redis); `FallbackStore` serves a shared store from local state while it fails.

A store never raises anything but StoreError, and only RedisStore raises that: the fallback
catches it, so nothing the store does reaches a client. Durations cross the seam, not instants:
each implementation reads its own clock (replicas' clocks meet in Redis as wall time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Window:
    """A budget: at most `limit` units of cost in any `span_s` seconds (a sliding log, so no
    window edge lets a burst of twice the limit through). `key` names it in the store, e.g.
    "backend:groq/llama-3.3-70b:rpm"; two windows with one key must have one span (and one
    `per_request`). A window counts a reservation's cost; a `per_request` one counts 1 per
    reservation whatever its cost, so that one reservation of a request's token estimate goes
    into its token budgets (tpm, tpd) and its request budgets (rpm, rpd) at once."""

    key: str
    limit: int
    span_s: float
    per_request: bool = False

    def charge(self, cost: int) -> int:
        """What a reservation of `cost` counts in this window."""
        return 1 if self.per_request else cost


@dataclass(frozen=True, slots=True)
class Reservation:
    """Cost counted against every window at once. `rooms[i]` is what windows[i] had left right
    after it (what /status and the budget gauge show); `waits[i]` the seconds until it has room
    for one more unit (0 while it has), so a caller need not ask a window it knows is full."""

    windows: tuple[Window, ...]
    cost: int
    token: str  # unique per reservation: how adjust() and refund() find it again
    rooms: tuple[int, ...]
    waits: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Full:
    """No room in at least one window: nothing was counted. `waits[i]` is when windows[i] frees
    enough for the cost (0: it has room; its whole span when the cost exceeds its limit);
    `retry_in_s` the longest of them."""

    retry_in_s: float
    rooms: tuple[int, ...]
    waits: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A backend (or a provider account) out of rotation until `until_epoch` (wall clock, so
    that every replica reads the same deadline). `key` and `reason` mean nothing to the store."""

    key: str
    until_epoch: float
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    """What a provider said is left of one of its limits, for every replica: `remaining` more
    until `until_epoch` (its reset, wall clock), as of `as_of_epoch` (about when the answered
    request reached the provider: what was sent after it is not counted in it); `limit` what it
    counts down from, when said. `key` names it, e.g. "backend:groq/llama-3.3-70b:tpm"; it
    means nothing to the store. A store keeps a report until its reset."""

    key: str
    remaining: int
    until_epoch: float
    as_of_epoch: float
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Replicas:
    """The replicas seen alive in the store lately (sorted ids), this one among them."""

    ids: tuple[str, ...]
    me: str

    @property
    def count(self) -> int:
        return max(len(self.ids), 1)

    def share(self, limit: int) -> int:
        """This replica's part of a budget it cannot share: limit // count, and one more for
        the first limit % count replicas in id order. Rounded so, the parts add up to the
        budget exactly: together the replicas never exceed it and waste none of it."""
        ids = self.ids if self.me in self.ids else tuple(sorted((*self.ids, self.me)))
        count = len(ids)
        return limit // count + (1 if ids.index(self.me) < limit % count else 0)


# Every operation a store call can fail in (the `op` label): their error counters start at 0.
OPS = ("reserve", "replay", "room", "adjust", "refund", "set_cooldown", "cooldowns",
       "put_reports", "reports", "heartbeat", "put_response", "get_response", "delete_response",
       "leave")


class StoreError(Exception):
    """A shared store failed or took longer than its timeout. `op` names the operation (the
    label of freerouter_state_store_errors_total); `cause` the foreign error's class, never
    its text (which may hold the store's address)."""

    def __init__(self, op: str, cause: str) -> None:
        super().__init__(f"state store {op} failed: {cause}")
        self.op = op
        self.cause = cause


class StateStore(Protocol):
    shared: bool  # whether other replicas see what this store holds

    @property
    def up(self) -> bool:
        """False while the store fails and local state stands in for it."""
        ...

    def replicas(self) -> Replicas:
        """The replicas seen at the last heartbeat (no I/O)."""
        ...

    async def reserve(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        """Atomically: if every window has room for `cost`, count it against all of them;
        else count nothing. Never read-then-write: two replicas never both take the last slot."""
        ...

    async def adjust(self, reservation: Reservation, cost: int) -> Reservation:
        """Replace a reservation's cost with the one really spent (a token estimate by the
        reported usage), at its original instant; a cost of 0 takes it out of the windows that
        count costs. `per_request` windows keep their 1: the request was sent. Expired: a no-op."""
        ...

    async def refund(self, reservation: Reservation) -> None:
        """Take a reservation back whole, from every window (the request was never sent)."""
        ...

    async def room(self, windows: Sequence[Window]) -> tuple[int, ...]:
        """What each window has left now, counting nothing."""
        ...

    async def set_cooldown(self, cooldown: Cooldown) -> None:
        """Record a cooldown; a later deadline replaces an earlier one, never the reverse."""
        ...

    async def cooldowns(self) -> tuple[Cooldown, ...]:
        """Every cooldown not yet over."""
        ...

    async def put_reports(self, reports: Sequence[Report]) -> None:
        """Keep each report until its reset, unless one of its key as of a later instant is
        kept already (a fresher count replaces a staler one, never the reverse)."""
        ...

    async def reports(self) -> tuple[Report, ...]:
        """Every report whose reset has not come yet."""
        ...

    async def heartbeat(self) -> Replicas:
        """Say this replica is alive; learn which others are."""
        ...

    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None: ...

    async def get_response(self, key: str) -> bytes | None:
        """The blob put under `key`, or None when unknown or expired."""
        ...

    async def delete_response(self, key: str) -> bool:
        """Whether there was one to delete."""
        ...

    async def maintain(self) -> None:
        """Background upkeep (heartbeats, recovery after a failure), run from the app's
        cleanup_ctx until cancelled; returns at once when there is none."""
        ...

    async def aclose(self) -> None: ...

