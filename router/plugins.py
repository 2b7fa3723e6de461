"""Loading strategies and providers from their entry-point groups. Built-ins register through the
same groups (see pyproject.toml) as a third-party package would."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, cast

from router.types import StrategyFactory
from router.upstream import ProviderFactory

STRATEGY_GROUP = "freerouter.strategies"
PROVIDER_GROUP = "freerouter.providers"


class PluginError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Plugins:
    strategies: Mapping[str, StrategyFactory]
    providers: Mapping[str, ProviderFactory]


def load_plugins() -> Plugins:
    return Plugins(strategies=_load(STRATEGY_GROUP, _check_strategy),
                   providers=_load(PROVIDER_GROUP, _check_provider))


def _load(group: str, check: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken third-party plugin must name itself
            raise PluginError(f"{group} plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        check(ep.name, obj)
        found[ep.name] = obj
    return found


def _check_strategy(name: str, factory: object) -> None:
    # Validate at load time, not on the first request: build one and make it pick.
    if not callable(factory):
        raise PluginError(f"strategy {name!r} is not callable")
    strategy = cast(StrategyFactory, factory)(random.Random(0))
    if not callable(getattr(strategy, "pick", None)):
        raise PluginError(f"strategy {name!r} has no pick(candidates, needs) method")


def _check_provider(name: str, factory: object) -> None:
    if not callable(factory):
        raise PluginError(f"provider {name!r} is not callable")

