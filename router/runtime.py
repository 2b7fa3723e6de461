"""A Runtime is everything one config produces (pool and provider adapters). It is built whole
and swapped whole on reload, so a request sees one consistent pool from start to end."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from router.budget import Limits, provider_limits
from router.config import Config
from router.plugins import Plugins
from router.pool import Pool
from router.types import StrategyFactory
from router.upstream import Provider, ProviderSettings


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    pool: Pool
    providers: Mapping[str, Provider]  # provider name -> adapter
    # provider name -> its account's budgets (runtime_limits(config)): built once per config,
    # so that the budget plan of every request can tell them unchanged by identity.
    provider_limits: Mapping[str, Limits]
    # Every configured key (upstream and client): never shown to a client or logged.
    secrets: tuple[str, ...] = ()

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


class RuntimeRef:
    """The one mutable cell holding the current Runtime (written by startup and reload)."""

    def __init__(self, runtime: Runtime) -> None:
        self.current = runtime


def build_runtime(
    config: Config, plugins: Plugins, rng: random.Random, wall: Callable[[], float]
) -> Runtime:
    """`wall` is the injected clock's epoch time, for the providers' reset times."""
    providers: dict[str, Provider] = {}
    for p in config.providers:
        factory = plugins.providers[p.api.value]
        providers[p.name] = factory(ProviderSettings(
            name=p.name, base_url=p.base_url, api_key=config.keys.get(p.name),
            timeout_s=p.timeout_s, connect_timeout_s=p.connect_timeout_s,
            total_timeout_s=p.total_timeout_s, wall=wall,
        ))
    secrets = tuple(k for k in (*config.keys.values(), *config.client_keys, *config.state_secrets)
                    if k)
    return Runtime(config, Pool(config, plugins.strategies, rng), providers,
                   runtime_limits(config), secrets)


def with_config(
    runtime: Runtime, config: Config, strategies: Mapping[str, StrategyFactory], rng: random.Random
) -> Runtime:
    """`runtime` over a config that differs only in the providers' model lists (discovery): the
    pool is rebuilt, the provider adapters are the same objects, so their sessions live on."""
    return replace(runtime, config=config, pool=Pool(config, strategies, rng),
                   provider_limits=runtime_limits(config))


def runtime_limits(config: Config) -> dict[str, Limits]:
    """Every provider's account budgets, by provider name."""
    return {p.name: provider_limits(config, p.name) for p in config.providers}
