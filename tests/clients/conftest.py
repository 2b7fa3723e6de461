"""The client matrix runs against what `freerouter demo` serves: the demo's own config over its
simulated backends (started in-process, unpaced so the suite stays fast), in a background loop so
that blocking clients and subprocesses (Node, another venv) can call it. At the end, every
request the router forwarded must have been one the real API accepts."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from router.demo.backends import DemoUpstreams, demo_raw_config, demo_upstreams
from tests.harness import Harness
from tests.installs import venv_install

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


# -- clients that live in a venv of their own and run a script of cases there -------------------

CASES_TIMEOUT_S = 120


def own_venv(name: str, requirements: Sequence[str]) -> Path:
    """The python of a venv of its own holding `requirements`; the test skips, saying why, when
    pip cannot install them."""
    found, error = venv_install(name, requirements)
    if found is None:
        pytest.skip(f"{name} could not be installed with pip: {error}")
    return found


def run_cases(python: Path, script: Path, demo: Demo, model: str,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a case script against the demo with `model`: the last line it prints is the JSON of
    every case's result."""
    done = subprocess.run(
        [str(python), str(script)], capture_output=True, text=True, timeout=CASES_TIMEOUT_S,
        check=False, env={"PATH": os.environ.get("PATH", ""), "ROUTER_URL": demo.url,
                          "MODEL": model, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def ok(results: dict[str, Any], case: str) -> dict[str, Any]:
    """One case's result, which must not be an error."""
    got: dict[str, Any] = results[case]
    assert "error" not in got, got
    return got
