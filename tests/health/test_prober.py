"""The prober's scheduling on a fake clock and sleep: jittered periods, one probe per provider at
a time, budgets, and probe results fed to health for every backend of the provider."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from router.budget import Budgets, provider_limits
from router.config import HealthConfig, parse
from router.errors import RateLimited, UpstreamConnectError
from router.health import HealthTracker, State
from router.metrics import Metrics
from router.plugins import load_plugins
from router.pool import Pool
from router.prober import JITTER, Prober
from router.runtime import Runtime, runtime_limits
from router.state.memory import MemoryStore
from router.types import Backend, FailureReason, Outcome
from tests.clock import START, FakeClock
from tests.health.fakes import ScriptedProvider

INTERVAL = 30.0


def runtime(providers: dict[str, ScriptedProvider], interval: float = INTERVAL,
            rpm: int | None = None) -> Runtime:
    raw = {
        "health": {"probe_interval_s": interval, "probe_timeout_s": 5.0},
        "providers": [
            {"name": name, "api": "openai", "base_url": f"http://{name}.invalid/v1",
             "models": [{"name": "m1"}, {"name": "m2"}], **({"rpm": rpm} if rpm else {})}
            for name in providers
        ],
    }
    plugins = load_plugins()
    config = parse(raw, {}, list(plugins.strategies), {})
    return Runtime(config, Pool(config, plugins.strategies, random.Random(0)), providers,
                   runtime_limits(config))


class Rig:
    def __init__(self, clock: FakeClock, names: tuple[str, ...] = ("a", "b"),
                 interval: float = INTERVAL, rpm: int | None = None) -> None:
        self.clock = clock
        self.adapters = {n: ScriptedProvider() for n in names}
        self.rt = runtime(self.adapters, interval, rpm)
        self.metrics = Metrics(CollectorRegistry())
        self.health = HealthTracker(clock, self.metrics)
        self.budgets = Budgets(MemoryStore(clock), clock, self.metrics,
                               lambda n: provider_limits(self.rt.config, n))
        self.prober = Prober(self.health, self.budgets, self.metrics, lambda: self.rt, clock,
                             random.Random(7), clock.sleep)

    def backends(self, provider: str) -> list[Backend]:
        return [b for b in self.rt.pool.backends.values() if b.provider == provider]

    def probed(self, backend: str, result: str) -> float:
        return self.metrics.registry.get_sample_value(
            "freerouter_probes_total", {"backend": backend, "result": result}) or 0.0

    async def settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)


async def test_first_round_is_spread_over_one_interval(clock: FakeClock) -> None:
    rig = Rig(clock, names=tuple("abcdefgh"))
    delay = rig.prober.tick()
    await rig.settle()
    assert 0.0 <= delay <= INTERVAL
    assert sum(a.probes for a in rig.adapters.values()) == 0  # nothing due yet
    clock.advance(INTERVAL)
    rig.prober.tick()
    await rig.settle()
    assert all(a.probes == 1 for a in rig.adapters.values())


async def test_periods_are_jittered_within_bounds(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",))
    starts: list[float] = []
    rig.prober.tick()
    for _ in range(200):
        clock.advance(rig.prober.tick())
        before = rig.adapters["a"].probes
        rig.prober.tick()
        await rig.settle()
        if rig.adapters["a"].probes > before:
            starts.append(clock.monotonic())
    periods = [b - a for a, b in itertools.pairwise(starts)]
    assert len(periods) > 100
    assert min(periods) >= INTERVAL * (1 - JITTER) - 1e-9
    assert max(periods) <= INTERVAL * (1 + JITTER) + 1e-9
    assert max(periods) - min(periods) > INTERVAL * JITTER  # it does vary


async def test_run_sleeps_until_the_next_due_probe(clock: FakeClock) -> None:
    rig = Rig(clock)
    task = asyncio.get_running_loop().create_task(rig.prober.run())
    try:
        await asyncio.wait_for(rig.prober.wait_completed(10), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert all(0 <= d <= INTERVAL * (1 + JITTER) for d in clock.slept)
    elapsed = clock.monotonic() - START
    # Two providers, ~one probe each per interval.
    assert 10 <= (rig.adapters["a"].probes + rig.adapters["b"].probes) <= 2 * elapsed / 24 + 2


async def test_one_probe_per_provider_at_a_time(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",))
    rig.adapters["a"].hang = True
    rig.prober.tick()
    for _ in range(5):
        clock.advance(INTERVAL * 2)
        rig.prober.tick()
        await rig.settle()
    assert rig.adapters["a"].probes == 1
    rig.adapters["a"].release.set()
    await rig.prober.wait_completed(1)
    clock.advance(INTERVAL * 2)
    rig.prober.tick()
    await rig.settle()
    assert rig.adapters["a"].probes == 2


async def test_a_hung_probe_times_out_as_a_timeout(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",))
    rig.rt = replace(rig.rt, config=replace(rig.rt.config, health=HealthConfig(INTERVAL, 0.01)))
    rig.adapters["a"].hang = True
    rig.prober.tick()
    clock.advance(INTERVAL)
    rig.prober.tick()
    await asyncio.wait_for(rig.prober.wait_completed(1), 5)
    assert rig.probed("a/m1", "timeout") == 1 and rig.probed("a/m2", "timeout") == 1


async def test_a_probe_result_applies_to_every_backend_of_its_provider(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a", "b"))
    rig.adapters["a"].errors.extend(UpstreamConnectError("refused") for _ in range(5))
    a1, a2 = rig.backends("a")
    rig.prober.tick()
    for _ in range(5):
        clock.advance(INTERVAL * (1 + JITTER))
        rig.prober.tick()
        await rig.settle()
    # Five failed probes in a row (never five in one window): ejected, every model of it.
    assert rig.health.state(a1) is State.COOLING and rig.health.state(a2) is State.COOLING
    assert rig.probed("a/m1", "connect") == 5 and rig.probed("a/m2", "connect") == 5
    assert all(rig.health.state(b) is State.HEALTHY for b in rig.backends("b"))
    assert rig.health.status(a1)["requests"] == 0  # probes are not client requests
    clock.advance(INTERVAL * (1 + JITTER))  # past the 10 s ejection: the next probe is the trial
    rig.prober.tick()
    await rig.settle()
    assert rig.probed("a/m1", "ok") == 1
    assert rig.health.state(a1) is State.HEALTHY and rig.health.state(a2) is State.HEALTHY


async def test_a_successful_probe_closes_the_half_open_trial(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",))
    a1 = rig.backends("a")[0]
    for _ in range(rig.health.policy.eject_min_requests):
        rig.health.record(Outcome(a1.id, ok=False, reason=FailureReason.SERVER_ERROR), "a")
    clock.advance(10)
    assert rig.health.state(a1) is State.HALF_OPEN
    rig.prober.tick()
    clock.advance(INTERVAL)
    rig.prober.tick()
    await rig.prober.wait_completed(1)
    assert rig.health.state(a1) is State.HEALTHY


async def test_a_429_to_a_probe_cools_the_provider_and_stops_probing_it(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",))
    rig.adapters["a"].errors.append(RateLimited("429", retry_after_s=100.0))
    rig.prober.tick()
    clock.advance(INTERVAL)
    rig.prober.tick()
    await rig.prober.wait_completed(1)
    assert all(rig.health.cooldown_left(b) == pytest.approx(100.0) for b in rig.backends("a"))
    for _ in range(2):  # the provider said to wait 100 s: no probe until then
        clock.advance(INTERVAL * (1 + JITTER))
        rig.prober.tick()
        await rig.settle()
    assert rig.adapters["a"].probes == 1
    clock.advance(100)
    rig.prober.tick()
    await rig.settle()
    assert rig.adapters["a"].probes == 2


async def test_probes_never_take_the_last_of_a_providers_minute(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",), interval=1.0, rpm=4)
    a1 = rig.backends("a")[0]
    assert await rig.budgets.reserve(a1) is not None
    rig.prober.tick()
    for _ in range(10):
        clock.advance(1.2)
        rig.prober.tick()
        await rig.settle()
    assert rig.adapters["a"].probes == 1  # 4 - 1 request - 1 probe = the 2 kept for traffic
    assert rig.probed("a/m1", "budget") >= 1
    assert await rig.budgets.reserve(a1) is not None
    assert await rig.budgets.reserve(a1) is not None


async def test_a_zero_interval_disables_probing(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a",), interval=0.0)
    for _ in range(3):
        clock.advance(rig.prober.tick())
        await rig.settle()
    assert rig.adapters["a"].probes == 0


async def test_providers_gone_after_a_reload_are_forgotten(clock: FakeClock) -> None:
    rig = Rig(clock, names=("a", "b"))
    rig.prober.tick()
    rig.adapters = {"b": rig.adapters["b"]}
    rig.rt = runtime(rig.adapters)
    for _ in range(3):
        clock.advance(INTERVAL * 2)
        rig.prober.tick()
        await rig.settle()
    assert rig.adapters["b"].probes == 3
