"""Model discovery in the running router: a background refresher that lists the models of every
provider whose `discover` is not "none", at startup and then every `discovery_interval_s`, and
swaps in a Runtime whose pool holds what was found.

- A listing is cached per provider: a refresh within the interval reuses it, and a failed one
  keeps the previous listing (the pool does not shrink because an upstream hiccuped).
- Only the pool is rebuilt on a swap; the provider adapters are the same objects, so no
  connection pool is opened per refresh. Health is keyed by backend id in the app-wide tracker,
  so a backend that stays listed keeps its state across swaps.
- The config a swap starts from is the one last loaded (startup or SIGHUP), never a pool this
  refresher produced, so a model that disappears from a listing leaves the pool and one that
  appears joins it."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from providers.catalog import Preset, load_catalog
from providers.discovery import discover
from providers.http11 import Http11Transport
from providers.model_lists import DiscoveredModel, matches_globs
from providers.transport import AsyncTransport
from router.clock import Clock
from router.config import Config, ModelConfig, ProviderConfig
from router.errors import UpstreamError
from router.logs import logger
from router.runtime import Runtime, RuntimeRef, with_config
from router.types import Capability, StrategyFactory

NO_DISCOVERY = "none"
# After a failed listing, try again sooner than a whole interval, but not in a tight loop.
RETRY_AFTER_FAILURE_S = 300.0
# Startup waits this long for the first listings, so the server opens with its models; a slower
# upstream joins the pool in the background when its listing arrives.
STARTUP_WAIT_S = 15.0
# A generic /models listing without a context length: the config's own default.
GENERIC_CONTEXT_LENGTH = ModelConfig("").context_length


@dataclass(frozen=True, slots=True)
class Listing:
    """One provider's last good listing, and what it was listed from (a reload may move the
    provider elsewhere, and an old listing must not be applied to the new place)."""

    method: str
    base_url: str
    models: tuple[DiscoveredModel, ...]
    fetched_at: float  # monotonic

    def fits(self, provider: ProviderConfig) -> bool:
        return (self.method, self.base_url) == (provider.discover, provider.base_url)


def interval_s(config: Config, provider: ProviderConfig) -> float:
    if provider.discovery_interval_s is not None:
        return provider.discovery_interval_s
    return config.routing.discovery_interval_s


def discovering(config: Config) -> tuple[ProviderConfig, ...]:
    return tuple(p for p in config.providers if p.discover != NO_DISCOVERY)


def _model(table: Mapping[str, Any]) -> ModelConfig:
    """A model table from Preset.discovered_models (the catalog's own output, so well-formed)."""
    return ModelConfig(
        name=table["name"],
        capabilities=frozenset(Capability(w) for w in table.get("capabilities", ())),
        context_length=table.get("context_length", GENERIC_CONTEXT_LENGTH),
        weight=table.get("weight", 1.0),
        rpm=table.get("rpm"),
        rpd=table.get("rpd"),
        tpm=table.get("tpm"),
        tpd=table.get("tpd"),
    )


def discovered_models(
    provider: ProviderConfig, found: Iterable[DiscoveredModel], preset: Preset | None
) -> tuple[ModelConfig, ...]:
    """The model list a provider gets from a listing: the provider's include/exclude globs, then
    the preset's free-model rules and known capabilities when it came from a preset. Without a
    preset, a model the config also lists keeps the config's table (its capabilities, weight and
    limits were written by hand, so they win over a listing's guesses)."""
    admitted = [m for m in found if matches_globs(m.name, provider.include, provider.exclude)]
    if preset is not None:
        models = [_model(t) for t in preset.discovered_models(admitted)]
    else:
        configured = {m.name: m for m in provider.models}
        models = [
            configured.get(m.name)
            or ModelConfig(m.name, m.capabilities, m.context_length or GENERIC_CONTEXT_LENGTH)
            for m in admitted
        ]
    unique = {m.name: m for m in reversed(models)}  # the first of repeated names wins
    return tuple(unique[name] for name in dict.fromkeys(m.name for m in models))


def apply_listings(
    config: Config, listings: Mapping[str, Listing], catalog: Mapping[str, Preset]
) -> Config:
    """`config` with each discovering provider's models replaced by its fitting listing."""

    def provider(p: ProviderConfig) -> ProviderConfig:
        listing = listings.get(p.name)
        if p.discover == NO_DISCOVERY or listing is None or not listing.fits(p):
            return p
        preset = catalog.get(p.preset) if p.preset is not None else None
        return replace(p, models=discovered_models(p, listing.models, preset))

    return replace(config, providers=tuple(provider(p) for p in config.providers))


class Refresher:
    """The refresher of one app. `refresh_now()` runs one round (the background loop calls it
    too); tests drive it directly and read `rounds` instead of sleeping."""

    def __init__(
        self,
        runtime: RuntimeRef,
        strategies: Mapping[str, StrategyFactory],
        rng: random.Random,
        clock: Clock,
        *,
        catalog: Mapping[str, Preset] | None = None,
        startup_wait_s: float = STARTUP_WAIT_S,
    ) -> None:
        self._ref = runtime
        self._strategies = strategies
        self._rng = rng
        self._clock = clock
        self._catalog = catalog
        self._startup_wait_s = startup_wait_s
        self._listings: dict[str, Listing] = {}
        self._due: dict[str, float] = {}  # provider -> monotonic instant of its next listing
        self._base: Config = runtime.current.config  # the last loaded config, before discovery
        self._produced: Runtime | None = None  # the last runtime this refresher swapped in
        self._lock = asyncio.Lock()  # one round at a time: the loop and a caller may overlap
        self._wake = asyncio.Event()
        self._round_done = asyncio.Condition()
        self._transport: AsyncTransport | None = None
        self.rounds = 0  # rounds finished, for tests and the curious

    # -- the pool -------------------------------------------------------------------------------

    @property
    def catalog(self) -> Mapping[str, Preset]:
        return load_catalog() if self._catalog is None else self._catalog

    def _adopt(self, runtime: Runtime) -> None:
        """A runtime this refresher did not produce comes from a (re)loaded config: it becomes
        the base every later swap is derived from."""
        if runtime is not self._produced:
            self._base = runtime.config

    def _derive(self, runtime: Runtime) -> Runtime:
        """`runtime` with the cached listings applied to the base config; itself when that
        changes no provider, so an unchanged listing does not rebuild the pool."""
        config = apply_listings(self._base, self._listings, self.catalog)
        if config.providers == runtime.config.providers:
            return runtime
        return with_config(runtime, config, self._strategies, self._rng)

    def _install(self) -> None:
        """Swap the pool in. Synchronous from reading the current runtime to writing the new one,
        so a reload that lands while listings are fetched is never overwritten by a stale pool."""
        current = self._ref.current
        self._adopt(current)
        derived = self._derive(current)
        self._produced = derived
        if derived is not current:
            _log_changes(current.config, derived.config)
            self._ref.current = derived

    def reloader(self, build: Callable[[], Runtime]) -> Callable[[], Runtime]:
        """Wrap the app's SIGHUP reloader: a reloaded config gets the cached listings at once
        (rather than its static model lists until the next refresh), and the loop wakes to list
        any provider the reload added."""

        def reload() -> Runtime:
            runtime = build()
            self._base = runtime.config
            self._produced = self._derive(runtime)
            self._wake.set()
            return self._produced

        return reload

    # -- listing --------------------------------------------------------------------------------

    async def refresh_now(self, *, force: bool = False) -> float:
        """List every discovering provider that is due (all of them with `force`), swap in the
        resulting pool, and return the seconds until the next provider is due."""
        async with self._lock:
            self._adopt(self._ref.current)
            providers = discovering(self._base)
            names = {p.name for p in providers}
            for gone in self._listings.keys() - names:
                del self._listings[gone]
            for gone in self._due.keys() - names:
                del self._due[gone]
            now = self._clock.monotonic()
            due = [p for p in providers if force or self._is_due(p, now)]
            keys = self._base.keys
            found = await asyncio.gather(*(self._list(p, keys.get(p.name)) for p in due))
            now = self._clock.monotonic()
            for p, models in zip(due, found, strict=True):
                every = interval_s(self._base, p)
                if models is None:
                    self._due[p.name] = now + min(every, RETRY_AFTER_FAILURE_S)
                    continue
                self._listings[p.name] = Listing(p.discover, p.base_url, models, now)
                self._due[p.name] = now + every
            self._install()
        await self._finish_round()
        return max(min(self._due.values(), default=now + self._base.routing.discovery_interval_s) - now, 0.0)

    def _is_due(self, provider: ProviderConfig, now: float) -> bool:
        listing = self._listings.get(provider.name)
        if listing is not None and not listing.fits(provider):
            return True  # a reload moved it: the cached listing is of another place
        return self._due.get(provider.name, float("-inf")) <= now

    async def _list(
        self, provider: ProviderConfig, api_key: str | None
    ) -> tuple[DiscoveredModel, ...] | None:
        """One provider's listing, or None (logged) when it cannot be had."""
        transport = self._transport
        if transport is None:  # refresh_now() outside the app's lifecycle (a test, a tool)
            own = Http11Transport()
            try:
                return await self._fetch(own, provider, api_key)
            finally:
                await own.aclose()
        return await self._fetch(transport, provider, api_key)

    async def _fetch(
        self, transport: AsyncTransport, provider: ProviderConfig, api_key: str | None
    ) -> tuple[DiscoveredModel, ...] | None:
        kept = self._listings.get(provider.name)
        try:
            async with asyncio.timeout(provider.connect_timeout_s + provider.timeout_s):
                models = await discover(
                    transport, provider.discover, provider.base_url, api_key, self._clock.wall()
                )
        except (UpstreamError, TimeoutError) as exc:
            reason = exc.reason.value if isinstance(exc, UpstreamError) else "timeout"
            logger().warning(
                "discovery failed; keeping the previous models", provider=provider.name,
                reason=reason, error=str(exc), kept_models=len(kept.models) if kept else None,
            )
            return None
        except Exception as exc:  # a parser bug must not end the refresher or empty the pool
            logger().error(
                "discovery crashed; keeping the previous models", provider=provider.name,
                error=f"{type(exc).__name__}: {exc}",
            )
            return None
        return tuple(models)

    # -- lifecycle ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Make the loop run a round now (it lists only the providers that are due)."""
        self._wake.set()

    async def wait_rounds(self, count: int) -> None:
        """Until at least `count` rounds have finished."""
        async with self._round_done:
            await self._round_done.wait_for(lambda: self.rounds >= count)

    async def _finish_round(self) -> None:
        async with self._round_done:
            self.rounds += 1
            self._round_done.notify_all()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.refresh_now()
            except Exception as exc:  # a bug must not end discovery for the process's lifetime
                logger().error("discovery round failed", error=f"{type(exc).__name__}: {exc}")
                await self._finish_round()  # startup must not wait on a round that will not end
                delay = RETRY_AFTER_FAILURE_S
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def context(self, _app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx entry: list at startup (waiting up to `startup_wait_s` for it, so the
        server opens with its models), refresh in the background, stop before the runtime
        closes."""
        self._transport = Http11Transport()
        task = asyncio.get_running_loop().create_task(self._loop())
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._startup_wait_s):
                    await self.wait_rounds(1)
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._transport.aclose()
            self._transport = None


def _log_changes(before: Config, after: Config) -> None:
    old = {b.id for b in before.backends()}
    new = {b.id for b in after.backends()}
    for p in discovering(after):
        prefix = f"{p.name}/"
        added = sorted(i for i in new - old if i.startswith(prefix))
        removed = sorted(i for i in old - new if i.startswith(prefix))
        if added or removed:
            logger().info(
                "discovered models changed", provider=p.name, models=len(p.models),
                added=added, removed=removed,
            )


DISCOVERY = web.AppKey("discovery", Refresher)

__all__ = [
    "DISCOVERY",
    "Listing",
    "Refresher",
    "apply_listings",
    "discovered_models",
    "discovering",
    "interval_s",
]
