"""The active health producer: every `probe_interval_s` (jittered) each provider gets one probe,
`Provider.probe()` (GET {base_url}/models with its key: no tokens spent), and its result applies
to every backend of that provider, fed to the HealthTracker like a request's outcome.

Per provider there is never more than one probe under way, a probe takes a slot of the
provider's rpm budget (and is skipped rather than take one of the last few), and a provider
whose every backend waits on its upstream's word (429, daily quota, bad key) is not probed.

Scheduling is a pure step, `tick()`, over the injected clock and RNG; `run()` loops it with an
injected sleep, so tests drive it with a fake clock and no real waiting."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web

from router.budget import Budgets
from router.clock import Clock
from router.errors import BadResponse, UpstreamError, UpstreamTimeout, detached
from router.health import HealthTracker
from router.logs import logger
from router.metrics import Metrics
from router.runtime import Runtime
from router.types import Backend, FailureReason, Outcome
from router.upstream import Provider

JITTER = 0.2  # each period is interval x uniform(1 - JITTER, 1 + JITTER): replicas drift apart
IDLE_S = 30.0  # how often a prober with nothing to probe (or probing disabled) looks again
PROBE_RESULT_OK = "ok"

Sleep = Callable[[float], Awaitable[None]]


class Prober:
    def __init__(
        self, health: HealthTracker, budgets: Budgets, metrics: Metrics,
        runtime: Callable[[], Runtime], clock: Clock, rng: random.Random,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._health = health
        self._budgets = budgets
        self._metrics = metrics
        self._runtime = runtime
        self._clock = clock
        self._rng = rng
        self._sleep = sleep
        self._due: dict[str, float] = {}  # provider -> monotonic instant of its next probe
        self._running: dict[str, asyncio.Task[None]] = {}
        self.completed = 0  # probes finished, for tests and the curious
        self._finished: asyncio.Event | None = None

    # -- scheduling -----------------------------------------------------------------------------

    def tick(self) -> float:
        """Start every probe that is due; return the seconds until the next one is."""
        runtime = self._runtime()
        interval = runtime.config.health.probe_interval_s
        if interval <= 0:
            return IDLE_S  # probing disabled
        by_provider: dict[str, list[Backend]] = {}
        for backend in runtime.pool.backends.values():
            by_provider.setdefault(backend.provider, []).append(backend)
        for gone in self._due.keys() - by_provider.keys():
            del self._due[gone]
        now = self._clock.monotonic()
        for name, backends in by_provider.items():
            due = self._due.get(name)
            if due is None:
                # Spread the first round over one interval: replicas and providers start apart.
                self._due[name] = now + self._rng.uniform(0.0, interval)
                continue
            if due > now:
                continue
            self._due[name] = now + interval * self._rng.uniform(1.0 - JITTER, 1.0 + JITTER)
            provider = runtime.providers.get(name)
            if provider is not None and name not in self._running:
                self._start(name, provider, backends, runtime.config.health.probe_timeout_s)
        return max(min(self._due.values(), default=now + IDLE_S) - now, 0.0)

    def _start(self, name: str, provider: Provider, backends: Sequence[Backend],
               timeout_s: float) -> None:
        if not self._health.probe_wanted(backends):
            return
        task = asyncio.get_running_loop().create_task(
            self._probe(name, provider, backends, timeout_s))
        self._running[name] = task

    async def run(self) -> None:
        while True:
            await self._sleep(self.tick())

    # -- one probe ------------------------------------------------------------------------------

    async def _probe(
        self, name: str, provider: Provider, backends: Sequence[Backend], timeout_s: float,
    ) -> None:
        try:
            if not await self._budgets.probe_slot(name):
                for b in backends:
                    self._metrics.probed(b.id, FailureReason.BUDGET.value)
                return
            try:
                await asyncio.wait_for(provider.probe(), timeout_s if timeout_s > 0 else None)
            except UpstreamError as exc:
                failed: UpstreamError | None = detached(exc)
            except TimeoutError:
                failed = detached(UpstreamTimeout("the probe did not answer in time"))
            except Exception as exc:  # a broken adapter must not end the prober
                logger().warning("probe_error", error=exc.__class__.__name__)
                failed = detached(BadResponse("the probe failed unexpectedly"))
            else:
                failed = None
            self._report(backends, failed)
        finally:
            self._running.pop(name, None)
            self.completed += 1
            if self._finished is not None:
                self._finished.set()

    def _report(self, backends: Sequence[Backend], failed: UpstreamError | None) -> None:
        for b in backends:
            if failed is None:
                outcome = Outcome(b.id, ok=True, probe=True)
            else:
                outcome = Outcome(
                    b.id, ok=False, reason=failed.reason, retry_after_s=failed.retry_after_s,
                    provider_wide=failed.provider_wide, until_epoch=failed.until_epoch, probe=True,
                )
            self._health.record(outcome, b.provider)
            self._metrics.probed(b.id, PROBE_RESULT_OK if failed is None else failed.reason.value)

    # -- lifecycle ------------------------------------------------------------------------------

    async def wait_completed(self, count: int) -> None:
        """Until `count` probes have finished in all (tests wait on this, not on time)."""
        while self.completed < count:
            self._finished = self._finished or asyncio.Event()
            self._finished.clear()
            await self._finished.wait()

    async def aclose(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup_ctx: probe while the app runs."""
        task = asyncio.get_running_loop().create_task(self.run())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self.aclose()


PROBER = web.AppKey("prober", Prober)
