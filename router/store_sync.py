"""The loop that keeps one kind of a replica's state in step with the shared state store: a
step (write what is pending, read back what every replica wrote) every `interval_s`, and at
once when woken because something new is pending. router.cooldowns and router.shared_reports
each run one, in an aiohttp cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

Step = Callable[[], Awaitable[None]]


class StoreSync:
    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        """Something new is pending: run the step now rather than at the next interval."""
        if self._wake is not None:
            self._wake.set()

    async def run(self, step: Step, pending: Callable[[], bool]) -> None:
        self._wake = asyncio.Event()
        while True:
            await step()
            self._wake.clear()
            if not pending():  # else more came in during the step: write it at once
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval_s):
                        await self._wake.wait()

    def context(self, step: Step, pending: Callable[[], bool]
                ) -> Callable[[web.Application], AsyncIterator[None]]:
        """An aiohttp cleanup_ctx running the loop while the app runs."""

        async def ctx(_app: web.Application) -> AsyncIterator[None]:
            task = asyncio.get_running_loop().create_task(self.run(step, pending))
            yield
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        return ctx
