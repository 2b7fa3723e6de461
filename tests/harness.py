"""A router and its fake upstreams on real loopback sockets, run in a background thread with its
own event loop, so that blocking clients (the sync SDKs) and async ones can both call it."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

from router.app import create_app
from router.clock import Clock
from router.config import Config, parse
from router.demo.scripted import Behaviour
from router.demo.upstream import FakeUpstream
from router.plugins import load_plugins

T = TypeVar("T")


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []
        self.fakes: dict[str, FakeUpstream] = {}
        self.app: web.Application | None = None
        self.url = ""
        self.config: Config | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the loop's thread (to touch loop-owned state safely)."""
        async def wrapper() -> T:
            return fn()
        return self.run(wrapper())

    async def _start(self, app: web.Application) -> int:
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[0][1])

    def upstream(self, name: str, fake: FakeUpstream) -> str:
        """Start a fake upstream; returns its base_url."""
        self.fakes[name] = fake
        port = self.run(self._start(fake.app()))
        return f"http://127.0.0.1:{port}/v1"

    def router(self, raw: Mapping[str, Any], env: Mapping[str, str] | None = None,
               clock: Clock | None = None, seed: int = 1,
               sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> str:
        plugins = load_plugins()
        self.config = config = parse(raw, env or {}, list(plugins.strategies), {})

        async def start() -> int:
            self.app = create_app(config, plugins, clock=clock, rng=random.Random(seed),
                                  sleep=sleep)
            return await self._start(self.app)

        self.url = f"http://127.0.0.1:{self.run(start())}"
        return self.url

    def close(self) -> None:
        async def stop() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()
        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@contextmanager
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


def provider(name: str, base_url: str, models: Mapping[str, list[str]], *,
             context_length: int = 32768, **extra: Any) -> dict[str, Any]:
    return {"name": name, "api": "openai", "base_url": base_url, "timeout_s": 5,
            "models": [{"name": m, "capabilities": caps, "context_length": context_length}
                       for m, caps in models.items()], **extra}


def fake(**behaviours: Behaviour) -> FakeUpstream:
    return FakeUpstream(behaviours)
