"""router.store_sync: a step every interval, at once when woken, again at once while more is
pending."""

from __future__ import annotations

import asyncio

from router.store_sync import StoreSync

FOREVER_S = 3600.0  # an interval no test waits for: every step seen is a wake's or a pending's


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_wake_runs_the_step_at_once_and_pending_work_runs_it_again() -> None:
    sync = StoreSync(FOREVER_S)
    steps: list[int] = []
    pending = [0]

    async def step() -> None:
        steps.append(len(steps))
        pending[0] = max(pending[0] - 1, 0)

    task = asyncio.get_running_loop().create_task(sync.run(step, lambda: pending[0] > 0))
    try:
        await turns()
        assert len(steps) == 1  # the first step, then it waits
        sync.wake()
        await turns()
        assert len(steps) == 2
        pending[0] = 2  # more than one step's worth: no wait in between
        sync.wake()
        await turns()
        assert len(steps) == 4
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_wake_before_the_loop_runs_is_harmless() -> None:
    StoreSync(FOREVER_S).wake()
