"""Cooldowns shared through a store: two replicas (two trackers, one store between them) on a
fake clock. What one sets, the other honours after one sync; what is written is named and
timed so that any replica reads it the same."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.cooldowns import SharedCooldowns, store_key
from router.health import Cooling, CoolingKind, HealthTracker, State
from router.state.memory import MemoryStore
from router.state.store import Cooldown
from router.types import Api, Backend, FailureReason, Outcome
from tests.clock import FakeClock

R = FailureReason


def backend(provider: str, model: str = "m") -> Backend:
    return Backend(id=f"{provider}/{model}", provider=provider, model=model, api=Api.OPENAI,
                   capabilities=frozenset(), context_length=8192)


A, A2, B = backend("a"), backend("a", "n"), backend("b")


class Replica:
    def __init__(self, store: MemoryStore, clock: FakeClock) -> None:
        self.shared = SharedCooldowns(store, clock)
        self.tracker = HealthTracker(clock, on_cooling=self.shared.publish)

    def fail(self, b: Backend, reason: R, **kw: Any) -> None:
        self.tracker.record(Outcome(b.id, ok=False, reason=reason, **kw), b.provider)


@pytest.fixture
def pair(clock: FakeClock) -> tuple[Replica, Replica]:
    store = MemoryStore(clock)  # one store, as one Redis is for two processes
    return Replica(store, clock), Replica(store, clock)


async def test_a_429_on_one_replica_cools_the_other(pair: tuple[Replica, Replica],
                                                    clock: FakeClock) -> None:
    one, two = pair
    one.fail(A, R.RATE_LIMITED, retry_after_s=60.0)
    assert two.tracker.state(A) is State.HEALTHY
    await one.shared.step(one.tracker)
    await two.shared.step(two.tracker)
    assert two.tracker.state(A) is State.COOLING
    assert two.tracker.cooldown_left(A) == pytest.approx(60.0)
    assert two.tracker.status(A)["cooldown_reason"] == "rate_limited"
    clock.advance(60)
    assert two.tracker.state(A) is State.HEALTHY


async def test_provider_wide_waits_and_ejections_travel_too(pair: tuple[Replica, Replica]) -> None:
    one, two = pair
    one.fail(A, R.RATE_LIMITED, retry_after_s=30.0, provider_wide=True)
    for _ in range(one.tracker.policy.eject_min_requests):
        one.fail(B, R.TIMEOUT)
    await one.shared.step(one.tracker)
    await two.shared.step(two.tracker)
    assert two.tracker.state(A2) is State.COOLING  # every backend of the account
    assert two.tracker.state(B) is State.COOLING
    assert two.tracker.status(B)["cooldown_reason"] == "timeout"


async def test_what_is_written_is_named_and_timed_for_any_replica(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    shared = SharedCooldowns(store, clock)
    shared.publish(Cooling("openrouter/x:free", False, CoolingKind.EJECT,
                           clock.monotonic() + 10, R.SERVER_ERROR))
    shared.publish(Cooling("openrouter", True, CoolingKind.WAIT, clock.monotonic() + 5,
                           R.RATE_LIMITED))
    await shared.step(HealthTracker(clock))
    written = {c.key: c for c in await store.cooldowns()}
    assert set(written) == {"backend:eject:openrouter/x:free", "provider:wait:openrouter"}
    assert written["backend:eject:openrouter/x:free"].until_epoch == pytest.approx(clock.wall() + 10)
    assert written["provider:wait:openrouter"].reason == "rate_limited"
    assert store_key(Cooling("g/m", False, CoolingKind.WAIT, 0.0, R.CLIENT_ERROR)) == "backend:wait:g/m"


async def test_entries_it_cannot_read_are_left_alone(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    shared = SharedCooldowns(store, clock)
    for key, reason in (("backend:melt:a/m", "timeout"), ("backend:wait:a/m", "nope"),
                        ("cluster:wait:a/m", "timeout"), ("backend:wait:", "timeout")):
        await store.set_cooldown(Cooldown(key, clock.wall() + 30, reason))
    tracker = HealthTracker(clock)
    await shared.step(tracker)
    assert tracker.state(A) is State.HEALTHY


async def test_a_new_cooldown_is_written_at_once_not_at_the_next_round(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    one = Replica(store, clock)
    task = asyncio.get_running_loop().create_task(one.shared.run(one.tracker))
    try:
        await asyncio.sleep(0)
        one.fail(A, R.RATE_LIMITED, retry_after_s=30.0)
        for _ in range(5):  # a few turns of the loop, far less than the 0.5 s round
            await asyncio.sleep(0)
        assert [c.key for c in await store.cooldowns()] == ["backend:wait:a/m"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
