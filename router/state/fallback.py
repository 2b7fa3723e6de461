"""A shared store with local state under it, so that the shared store going away degrades the
router instead of failing it. While the shared store answers, every grant is recorded locally
too (what this replica spent). When a call fails or outlasts the timeout, this replica serves
from local state at once: each budget at its share (Replicas.share: the budget split over the
replicas last seen), its own cooldowns, its own Responses. The transition is logged once and
`freerouter_state_store_up` drops to 0; the request that met the failure is served like the
others. A probe every RECOVERY_PROBE_S finds the store again; what was done locally meanwhile
is replayed into it (grants at their own instants, so the windows stay exact), and the shared
store is used again without a restart. A store that comes back empty (restarted without
persistence: its id changed) is told everything still in this replica's windows and cooldowns,
what it spent before the outage included, so a restart does not hand out a window twice."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from router import logs
from router.clock import Clock
from router.metrics import Metrics
from router.state.memory import MemoryStore
from router.state.store import (
    Cooldown,
    Full,
    Replicas,
    Report,
    Reservation,
    StateStore,
    StoreError,
    Window,
)

HEARTBEAT_S = 1.0  # well inside the replicas' heartbeat TTL (10 s)
RECOVERY_PROBE_S = 0.5
# What is replayed after an outage, oldest dropped first: a minute and more of a busy
# replica's grants (about 300 bytes each). A longer outage's oldest grants are mostly out of
# their minute windows by then anyway.
MAX_BACKLOG = 20_000


class SharedStore(StateStore, Protocol):
    # Set by heartbeat(): a different one means the store lost its data since the last one.
    store_id: str | None

    async def record_many(self, grants: Sequence[tuple[Reservation, float]]) -> None:
        """Count reservations made `ago` seconds ago elsewhere, without asking for room."""
        ...

    def take_in_doubt(self) -> list[Reservation]:
        """Reservations whose call failed after it may have reached the store."""
        ...


Replay = Callable[[SharedStore], Awaitable[None]]
# Replays a store that lost its data needs still: what local state does not hold.
KEPT_ON_RESET = frozenset({"response"})
REPLAY_BATCH = 200  # grants per pipelined round trip: well inside a 50 ms timeout
# Rounds of replay while requests keep being served locally (each round replays what came in
# during the one before); then the store is used again and the rest is replayed after.
REPLAY_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class _Grant:
    """A reservation local state granted while the store was away (and when, monotonic)."""

    reservation: Reservation
    at: float


@dataclass(frozen=True, slots=True)
class _Later:
    """Any other call the store missed: replayed as it was made."""

    kind: str
    replay: Replay


Pending = _Grant | _Later


class FallbackStore:
    shared = True

    def __init__(self, primary: SharedStore, local: MemoryStore, metrics: Metrics, clock: Clock,
                 address: str, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._primary = primary
        self._local = local
        self._metrics = metrics
        self._clock = clock
        self._address = address  # for the log lines: never holds a password
        self._sleep = sleep
        self._up = True
        self._down_since = 0.0
        self._backlog: deque[Pending] = deque(maxlen=MAX_BACKLOG)

    @property
    def up(self) -> bool:
        return self._up

    def replicas(self) -> Replicas:
        return self._primary.replicas()

    # -- health -------------------------------------------------------------------------------

    def _failed(self, error: StoreError) -> None:
        self._metrics.state_store_failed(error.op)
        if self._up:
            self._up = False
            self._down_since = self._clock.monotonic()
            self._metrics.state_store(False)
            logs.log_store_down(self._address, error.op, error.cause)

    def _later(self, kind: str, replay: Replay) -> None:
        self._backlog.append(_Later(kind, replay))

    async def step(self) -> float:
        """One round of upkeep: a heartbeat while up; while down, a probe and, once it
        answers, the replay. Returns the seconds until the next round."""
        try:
            known = self._primary.store_id
            await self._primary.heartbeat()
            emptied = known is not None and self._primary.store_id != known
            if emptied or not self._up:
                replayed = await (self._rebuild() if emptied else self._replay())
                if self._up:
                    logs.log_store_reset(self._address, replayed)
                else:
                    self._up = True
                    self._metrics.state_store(True)
                    logs.log_store_up(self._address,
                                      self._clock.monotonic() - self._down_since, replayed)
                await self._replay()  # what the last round left: requests use the store again
        except StoreError as exc:
            self._failed(exc)
        return HEARTBEAT_S if self._up else RECOVERY_PROBE_S

    async def _replay(self) -> int:
        """Give the store what it missed, in order, grants batched. Requests keep being served
        locally (and queue more) meanwhile: each round replays what the one before let in. A
        failure keeps what is left, the oldest first, for the next try."""
        # First what timed out: local state granted those, so the store must not count them too.
        for reservation in self._primary.take_in_doubt():
            await self._primary.refund(reservation)
        done = 0
        for _ in range(REPLAY_ROUNDS):
            if not self._backlog:
                break
            batch, self._backlog = self._backlog, deque(maxlen=MAX_BACKLOG)
            try:
                done += await self._replay_batch(batch)
            except StoreError:
                batch.extend(self._backlog)
                self._backlog = batch
                raise
        return done

    async def _replay_batch(self, batch: deque[Pending]) -> int:
        done = 0
        while batch:
            grants: list[tuple[Reservation, float]] = []
            now = self._clock.monotonic()
            while batch and isinstance(batch[0], _Grant) and len(grants) < REPLAY_BATCH:
                grant = batch[0]
                assert isinstance(grant, _Grant)
                longest = max((w.span_s for w in grant.reservation.windows), default=0.0)
                if now - grant.at < longest:  # else it has left every window already
                    grants.append((grant.reservation, now - grant.at))
                batch.popleft()
            if grants:
                try:
                    await self._primary.record_many(grants)
                except StoreError:
                    batch.extendleft(_Grant(r, now - ago) for r, ago in reversed(grants))
                    raise
                done += len(grants)
            elif batch:
                item = batch[0]
                assert isinstance(item, _Later)
                await item.replay(self._primary)
                batch.popleft()
                done += 1
        return done

    async def _rebuild(self) -> int:
        """Tell an emptied store what this replica's local state holds; then what it does not."""
        grants = self._local.grants()
        for start in range(0, len(grants), REPLAY_BATCH):
            await self._primary.record_many(grants[start:start + REPLAY_BATCH])
        done = len(grants)
        for cooldown in await self._local.cooldowns():
            await self._primary.set_cooldown(cooldown)
            done += 1
        self._backlog = deque((item for item in self._backlog
                               if isinstance(item, _Later) and item.kind in KEPT_ON_RESET),
                              maxlen=MAX_BACKLOG)
        return done + await self._replay()

    async def maintain(self) -> None:
        while True:
            await self._sleep(await self.step())

    # -- windows ------------------------------------------------------------------------------

    def _shares(self, windows: Sequence[Window]) -> list[Window]:
        replicas = self._primary.replicas()
        return [replace(w, limit=replicas.share(w.limit)) for w in windows]

    async def reserve(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        if self._up:
            try:
                result = await self._primary.reserve(windows, cost)
            except StoreError as exc:
                self._failed(exc)
            else:
                if isinstance(result, Reservation):
                    self._local.record(windows, cost, result.token)
                return result
        local = self._local.reserve_now(self._shares(windows), cost)
        if isinstance(local, Full):
            return local
        granted = Reservation(tuple(windows), cost, local.token, local.rooms, local.waits)
        self._backlog.append(_Grant(granted, self._clock.monotonic()))
        return granted

    async def adjust(self, reservation: Reservation, cost: int) -> Reservation:
        local = self._local.adjust_now(reservation, cost)
        if self._up:
            try:
                return await self._primary.adjust(reservation, cost)
            except StoreError as exc:
                self._failed(exc)

        async def replay(primary: SharedStore) -> None:
            await primary.adjust(reservation, cost)

        self._later("adjust", replay)
        return local

    async def refund(self, reservation: Reservation) -> None:
        self._local.refund_now(reservation)
        if self._up:
            try:
                await self._primary.refund(reservation)
                return
            except StoreError as exc:
                self._failed(exc)

        async def replay(primary: SharedStore) -> None:
            await primary.refund(reservation)

        self._later("refund", replay)

    async def room(self, windows: Sequence[Window]) -> tuple[int, ...]:
        if self._up:
            try:
                return await self._primary.room(windows)
            except StoreError as exc:
                self._failed(exc)
        return self._local.room_now(self._shares(windows))

    # -- cooldowns, replicas ------------------------------------------------------------------

    async def set_cooldown(self, cooldown: Cooldown) -> None:
        self._local.set_cooldown_now(cooldown)
        if self._up:
            try:
                await self._primary.set_cooldown(cooldown)
                return
            except StoreError as exc:
                self._failed(exc)

        async def replay(primary: SharedStore) -> None:
            await primary.set_cooldown(cooldown)  # a cooldown over by then is dropped there

        self._later("cooldown", replay)

    async def cooldowns(self) -> tuple[Cooldown, ...]:
        if self._up:
            try:
                return await self._primary.cooldowns()
            except StoreError as exc:
                self._failed(exc)
        return await self._local.cooldowns()

    # -- what providers report -----------------------------------------------------------------

    async def put_reports(self, reports: Sequence[Report]) -> None:
        # Not replayed after an outage: every answer brings a fresher count than a replay would.
        if self._up:
            try:
                await self._primary.put_reports(reports)
                return
            except StoreError as exc:
                self._failed(exc)
        self._local.put_reports_now(reports)

    async def reports(self) -> tuple[Report, ...]:
        if self._up:
            try:
                return await self._primary.reports()
            except StoreError as exc:
                self._failed(exc)
        return await self._local.reports()

    async def heartbeat(self) -> Replicas:
        await self.step()
        return self.replicas()

    # -- responses ----------------------------------------------------------------------------

    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        if self._up:
            try:
                await self._primary.put_response(key, blob, ttl_s)
                return
            except StoreError as exc:
                self._failed(exc)
        self._local.put_response_now(key, blob, ttl_s)

        async def replay(primary: SharedStore) -> None:
            left = self._local.response_ttl(key)
            if left is not None:
                await primary.put_response(key, blob, left)
                await self._local.delete_response(key)  # the shared copy is the one now

        self._later("response", replay)

    async def get_response(self, key: str) -> bytes | None:
        if self._up:
            try:
                return await self._primary.get_response(key)
            except StoreError as exc:
                self._failed(exc)
        return await self._local.get_response(key)

    async def delete_response(self, key: str) -> bool:
        here = await self._local.delete_response(key)
        if self._up:
            try:
                return await self._primary.delete_response(key) or here
            except StoreError as exc:
                self._failed(exc)

        async def replay(primary: SharedStore) -> None:
            await primary.delete_response(key)

        self._later("response", replay)
        return here

    async def aclose(self) -> None:
        await self._primary.aclose()
