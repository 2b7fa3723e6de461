"""What providers report is left of their limits (x-ratelimit-remaining-*, anthropic-ratelimit-*),
shared between replicas. Budgets hands over the counts of every answer; they are written to the
state store by a background task it wakes (one call for all that are pending), each kept there
until its reset; what every replica wrote is read back every SYNC_S and adopted where it is
fresher than what this replica heard itself. So a count one replica learns holds on all of them
within a second, and neither the request path nor the answer path waits on the store: Budgets
holds every count in memory. Only for a shared store: a memory store would only hand this
replica's own counts back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial

from aiohttp import web

from router.budget import Budgets
from router.state.store import Report, StateStore
from router.store_sync import StoreSync

SYNC_S = 0.5  # how stale another replica's count may be here (plus one store round trip)


class SharedReports:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._pending: dict[str, Report] = {}
        self._sync = StoreSync(SYNC_S)

    def publish(self, reports: Sequence[Report]) -> None:
        """Budgets' hand-over (synchronous: it is on the answer path); written by the
        background task, which it wakes."""
        for report in reports:
            held = self._pending.get(report.key)
            if held is None or report.as_of_epoch >= held.as_of_epoch:
                self._pending[report.key] = report
        self._sync.wake()

    async def step(self, budgets: Budgets) -> None:
        """Write what is pending, then adopt every count the store holds."""
        pending, self._pending = self._pending, {}
        if pending:
            await self._store.put_reports(tuple(pending.values()))  # a shared store never raises
        budgets.share(await self._store.reports())

    async def run(self, budgets: Budgets) -> None:
        await self._sync.run(partial(self.step, budgets), self._has_pending)

    def context(self, budgets: Budgets) -> Callable[[web.Application], AsyncIterator[None]]:
        """An aiohttp cleanup_ctx running the sync while the app runs."""
        return self._sync.context(partial(self.step, budgets), self._has_pending)

    def _has_pending(self) -> bool:
        return bool(self._pending)
