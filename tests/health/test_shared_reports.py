"""Provider-reported counts shared through a store: two replicas (two Budgets, one store between
them) on a fake clock. What one hears, the other holds after one sync, counting its own sends
against it; a staler count never replaces a fresher one; a count is gone at its reset."""

from __future__ import annotations

import pytest

from router.budget import Budgets
from router.shared_reports import SharedReports
from router.state.memory import MemoryStore
from router.state.store import Report
from router.types import Api, Backend
from router.upstream import Quota
from tests.clock import FakeClock

B = Backend(id="openrouter/llama:free", provider="openrouter", model="llama:free",
            api=Api.OPENAI, capabilities=frozenset(), context_length=8192)


class Replica:
    def __init__(self, store: MemoryStore, clock: FakeClock) -> None:
        self.shared = SharedReports(store)
        self.budgets = Budgets(store, clock, on_report=self.shared.publish)

    async def sync(self) -> None:
        await self.shared.step(self.budgets)

    async def sends(self, n: int, tokens: int = 0) -> list[bool]:
        return [await self.budgets.reserve(B, tokens) is not None for _ in range(n)]


class SharedMemory(MemoryStore):
    """One memory store, as one Redis is for two processes."""

    shared = True


@pytest.fixture
def pair(clock: FakeClock) -> tuple[Replica, Replica]:
    store = SharedMemory(clock)
    return Replica(store, clock), Replica(store, clock)


async def test_a_count_one_replica_hears_holds_on_the_other(pair: tuple[Replica, Replica],
                                                           clock: FakeClock) -> None:
    one, two = pair
    one.budgets.observe(B.id, Quota(requests_remaining=3, requests_reset_epoch=clock.wall() + 40,
                                    tokens_remaining=100, tokens_limit=6000))
    assert two.budgets.left(B).rpm_left is None
    await one.sync()
    await two.sync()
    assert (two.budgets.left(B).rpm_left, two.budgets.left(B).tpm_left) == (3, 100)
    assert await two.sends(1, tokens=2000) == [False]  # over what the provider said is left
    assert await two.sends(4) == [True, True, True, False]
    clock.advance(40)  # the reset the provider gave: back to what it allows afterwards
    await two.sync()
    assert await two.sends(1) == [True]


async def test_the_other_counts_its_own_sends_since_the_count(pair: tuple[Replica, Replica],
                                                             clock: FakeClock) -> None:
    one, two = pair
    assert await two.sends(1) == [True]  # before the provider's count: in it
    clock.advance(1)
    one.budgets.observe(B.id, Quota(requests_remaining=5), latency_s=0.5)
    clock.advance(1)
    assert await two.sends(2) == [True, True]  # after it: not in it
    await one.sync()
    await two.sync()
    assert two.budgets.left(B).rpm_left == 3
    assert one.budgets.left(B).rpm_left == 5  # its own count is not adopted again
    await one.sync()
    assert one.budgets.left(B).rpm_left == 5


async def test_a_staler_count_never_replaces_a_fresher_one(pair: tuple[Replica, Replica],
                                                          clock: FakeClock) -> None:
    one, two = pair
    one.budgets.observe(B.id, Quota(requests_remaining=50), latency_s=2.0)  # a slow answer
    two.budgets.observe(B.id, Quota(requests_remaining=7), latency_s=0.1)  # a later count
    await two.sync()
    await one.sync()
    await two.sync()
    assert one.budgets.left(B).rpm_left == two.budgets.left(B).rpm_left == 7
    # Nor is what another version wrote read as a count.
    two.budgets.share([Report("backend:", 1, clock.wall() + 9, clock.wall() + 9),
                       Report(f"provider:{B.id}:rpm", 1, clock.wall() + 9, clock.wall() + 9),
                       Report(f"backend:{B.id}:xpm", 1, clock.wall() + 9, clock.wall() + 9)])
    assert two.budgets.left(B).rpm_left == 7


async def test_without_a_shared_store_nothing_is_handed_over(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    budgets = Budgets(store, clock)  # what create_app builds for the memory store
    budgets.observe(B.id, Quota(requests_remaining=2))
    assert await store.reports() == ()
    await budgets.refresh([B])
    assert budgets.left(B).rpm_left == 2
