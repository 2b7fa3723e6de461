"""The `[state] backend` words and the store each one builds. A shared store always comes with
local state under it (FallbackStore), so its failures never reach a request."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol
from urllib.parse import urlsplit

from router.clock import Clock
from router.metrics import Metrics
from router.state.memory import MemoryStore
from router.state.store import StateStore


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """What a store is built from: the [state] table, the URL its url_env held, this replica."""

    url: str | None
    key_prefix: str
    timeout_s: float
    replica: str


class StoreFactory(Protocol):
    def __call__(self, settings: StoreSettings, clock: Clock, metrics: Metrics,
                 sleep: Callable[[float], Awaitable[None]]) -> StateStore: ...


def _memory(settings: StoreSettings, clock: Clock, metrics: Metrics,
            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> StateStore:
    return MemoryStore(clock, settings.replica)


def _redis(settings: StoreSettings, clock: Clock, metrics: Metrics,
           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> StateStore:
    # Imported here: only a configured Redis loads the client library.
    from router.state.fallback import FallbackStore
    from router.state.redis import RedisStore

    assert settings.url is not None  # the config checks it
    primary = RedisStore(settings.url, settings.key_prefix, settings.timeout_s, clock,
                         settings.replica)
    return FallbackStore(primary, MemoryStore(clock, settings.replica), metrics, clock,
                         safe_address(settings.url), sleep)


def safe_address(url: str) -> str:
    """A store's address for logs and `freerouter check`: scheme, host, port and db, never
    the user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def replica_id() -> str:
    """This process among the replicas: its host (the pod's name in Kubernetes), its pid, and a
    random part, so a restarted replica is a new one."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


STORES: Mapping[str, StoreFactory] = MappingProxyType({"memory": _memory, "redis": _redis})
# The backends that need a URL (from [state] url_env).
NEEDS_URL = frozenset({"redis"})
