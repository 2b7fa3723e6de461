"""Test doubles for health: a clock that only moves when told to, a sleep that moves it, and a
provider adapter whose probes are scripted."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from router.errors import UpstreamError
from router.upstream import UpstreamReply, UpstreamRequest


class FakeClock:
    """Monotonic starts at 1000; wall starts at the real time, because upstream error bodies are
    classified against the real time (daily resets) and both must agree."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.epoch = time.time()

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.epoch

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.epoch += seconds


class FakeSleep:
    """An injected sleep: records the delay, advances the fake clock, lets other tasks run."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


class ScriptedProvider:
    """A Provider whose probe() raises the scripted errors in turn, then succeeds; or blocks
    until `release` is set when `hang` is true."""

    def __init__(self) -> None:
        self.errors: deque[UpstreamError] = deque()
        self.probes = 0
        self.hang = False
        self.release = asyncio.Event()

    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        raise NotImplementedError

    async def probe(self) -> None:
        self.probes += 1
        if self.hang:
            await self.release.wait()
        if self.errors:
            raise self.errors.popleft()

    async def aclose(self) -> None:
        return None
