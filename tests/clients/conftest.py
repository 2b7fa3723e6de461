"""The client matrix runs against what `freerouter demo` serves: the demo's own config over its
simulated backends (started in-process, unpaced so the suite stays fast), in a background loop so
that blocking clients and subprocesses (Node, another venv) can call it. At the end, every
request the router forwarded must have been one the real API accepts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest

from router.demo.backends import DemoUpstreams, demo_raw_config, demo_upstreams
from tests.harness import Harness

# One backend per upstream API, each with tools and json_schema, so that every client is
# checked in both translation directions; plus `free`, which is what users ask for.
OPENAI_BACKEND = "demo/large-70b"  # a reasoning model, too
ANTHROPIC_BACKEND = "anthropic-sim/sonnet-sim"
BACKENDS = (OPENAI_BACKEND, ANTHROPIC_BACKEND)


@dataclass(frozen=True, slots=True)
class Demo:
    url: str  # the router, without /v1
    upstreams: DemoUpstreams

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def rejected(self) -> list[tuple[str, list[str]]]:
        return [(r.path, r.problems) for fake in self.upstreams.fakes.values()
                for r in fake.received if r.problems]


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    h = Harness()
    stack = AsyncExitStack()
    try:
        upstreams = h.run(stack.enter_async_context(demo_upstreams(pace=0.0)))
        url = h.router(demo_raw_config(upstreams.ports))
        running = Demo(url, upstreams)
        yield running
        assert running.rejected() == []
    finally:
        h.run(stack.aclose())
        h.close()
