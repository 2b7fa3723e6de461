"""Fixtures for the state-store tests: a real redis-server (Debian's package, installed when
missing) started on a free loopback port once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.redis_server import RedisServer, running
from tests.installs import debian_binary


@pytest.fixture(scope="session")
def redis_binary() -> Path:
    binary, why = debian_binary("redis-server", "redis-server")
    if binary is None:
        pytest.skip(why or "redis-server is not available")
    return binary


@pytest.fixture(scope="module")
def redis_server(redis_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running(redis_binary, tmp_path_factory.mktemp("redis")) as server:
        yield server
