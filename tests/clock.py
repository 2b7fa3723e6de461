"""The one fake clock of the tests: the router's `Clock` (router.clock), moved only by the test
(`advance`) or by the router itself through `sleep`, the injected sleep of the proxy and the
prober. Nothing really waits, so the tests hold on a loaded machine."""

from __future__ import annotations

import asyncio
import time

START = 1000.0  # where monotonic time starts: far from zero, so a zero default never passes for "now"


class FakeClock:
    """Monotonic time starts at START. Wall time starts at `epoch`, by default the real time,
    because upstream error bodies are classified against the real time (daily resets) and both
    must agree. Both move together, by `advance` or by `sleep`."""

    def __init__(self, epoch: float | None = None) -> None:
        self.mono = START
        self.epoch = time.time() if epoch is None else epoch
        self.slept: list[float] = []  # every delay asked of `sleep`, in order

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.epoch

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.epoch += seconds

    async def sleep(self, seconds: float) -> None:
        """The injected sleep: records the delay, moves the clock by it and lets other tasks run."""
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
