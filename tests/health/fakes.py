"""A test double for health: a provider adapter whose probes are scripted. (The fake clock and
its sleep are tests.clock.)"""

from __future__ import annotations

import asyncio
from collections import deque

from router.errors import UpstreamError
from router.upstream import UpstreamReply, UpstreamRequest


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
