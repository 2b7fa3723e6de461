"""Cooldowns shared between replicas. What this replica's health tracker sets (a 429's wait, a
daily quota, a rejected key, an ejection) is written to the state store at once, with its reason
and its deadline; what every replica set is read back every SYNC_S and applied to the tracker.
So a backend one replica cools is cooling on all of them within a second, and the request path
never waits on the store: the tracker holds every cooldown in memory. Only for a shared store:
a memory store would only hand this replica's own cooldowns back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial

from aiohttp import web

from router.clock import Clock
from router.health import Cooling, CoolingKind, HealthTracker
from router.state.store import Cooldown, StateStore
from router.store_sync import StoreSync
from router.types import FailureReason

SYNC_S = 0.5  # how stale another replica's cooldown may be here (plus one store round trip)
SCOPES = {False: "backend", True: "provider"}  # provider_wide -> the key's first word


def store_key(cooling: Cooling) -> str:
    """e.g. "backend:wait:groq/llama-3.3-70b-versatile", "provider:wait:openrouter"."""
    return f"{SCOPES[cooling.provider_wide]}:{cooling.kind.value}:{cooling.name}"


class SharedCooldowns:
    def __init__(self, store: StateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[str, Cooldown] = {}
        self._sync = StoreSync(SYNC_S)

    def publish(self, cooling: Cooling) -> None:
        """The tracker's announcement (synchronous: it is on the request path); written by
        the background task, which it wakes."""
        until = self._clock.wall() + (cooling.until - self._clock.monotonic())
        key = store_key(cooling)
        held = self._pending.get(key)
        if held is None or until > held.until_epoch:
            self._pending[key] = Cooldown(key, until, cooling.reason.value)
        self._sync.wake()

    def parse(self, cooldown: Cooldown) -> Cooling | None:
        scope, _, rest = cooldown.key.partition(":")
        kind, _, name = rest.partition(":")
        try:
            cooling_kind, reason = CoolingKind(kind), FailureReason(cooldown.reason)
        except ValueError:
            return None  # written by another version: not ours to read
        if scope not in SCOPES.values() or not name:
            return None
        until = self._clock.monotonic() + (cooldown.until_epoch - self._clock.wall())
        return Cooling(name, scope == "provider", cooling_kind, until, reason)

    async def step(self, tracker: HealthTracker) -> None:
        """Write what is pending, then apply every cooldown the store holds."""
        pending, self._pending = self._pending, {}
        for cooldown in pending.values():
            await self._store.set_cooldown(cooldown)  # a shared store never raises
        for cooldown in await self._store.cooldowns():
            cooling = self.parse(cooldown)
            if cooling is not None:
                tracker.apply(cooling)

    async def run(self, tracker: HealthTracker) -> None:
        await self._sync.run(partial(self.step, tracker), self._has_pending)

    def context(self, tracker: HealthTracker) -> Callable[[web.Application], AsyncIterator[None]]:
        """An aiohttp cleanup_ctx running the sync while the app runs."""
        return self._sync.context(partial(self.step, tracker), self._has_pending)

    def _has_pending(self) -> bool:
        return bool(self._pending)
