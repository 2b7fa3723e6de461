"""Assembling the aiohttp application: shared objects under AppKeys, routes, and the lifecycle
(background work only in cleanup_ctx)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from router import logs
from router.access import Access
from router.api import anthropic, models, openai, ops, responses
from router.api.banner import drop_server_banner
from router.api.middleware import make_middleware
from router.appkeys import (
    ACCESS,
    BUDGETS,
    CLIENT_LIMITS,
    CLOCK,
    HEALTH,
    METRICS,
    PLUGINS,
    PROXY,
    READINESS,
    RECENT,
    RELOADER,
    RESPONSES_STORE,
    RUNTIME,
    STARTED_AT,
    STARTUP_CONFIG,
    STORE,
)
from router.budget import NO_LIMITS, Budgets
from router.client_limits import ClientLimits
from router.clock import Clock, SystemClock
from router.config import Config
from router.cooldowns import SharedCooldowns
from router.discovery import DISCOVERY, Refresher
from router.health import HealthTracker
from router.metrics import Metrics
from router.plugins import Plugins
from router.prober import PROBER, Prober
from router.proxy import Proxy
from router.readiness import Readiness
from router.recent import RecentRequests
from router.responses_store import ResponsesStore
from router.runtime import Runtime, RuntimeRef, build_runtime
from router.shared_reports import SharedReports
from router.state.backends import STORES, StoreSettings, replica_id
from router.state.store import OPS, StateStore
from router.ui.console import Console

RETIRED: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("retired_runtimes")


def create_app(
    config: Config,
    plugins: Plugins,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    reload_config: Callable[[], Config] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> web.Application:
    clock = clock or SystemClock()
    rng = rng or random.Random()
    app = web.Application(
        middlewares=[make_middleware()], client_max_size=config.server.max_body_bytes,
    )
    metrics = Metrics()
    metrics.state_store_ops(OPS)
    # The store is built once: a reload keeps it (its [state] is read at startup).
    state = config.state
    store = STORES[state.backend](
        StoreSettings(config.state_url, state.key_prefix, state.timeout_ms / 1000.0, replica_id()),
        clock, metrics, asyncio.sleep)
    reports = SharedReports(store) if store.shared else None
    budgets = Budgets(store, clock, metrics,
                      lambda name: app[RUNTIME].current.provider_limits.get(name, NO_LIMITS),
                      on_report=reports.publish if reports else None)
    cooldowns = SharedCooldowns(store, clock) if store.shared else None
    health = HealthTracker(clock, metrics, on_cooling=cooldowns.publish if cooldowns else None)
    app[CLOCK] = clock
    app[STARTED_AT] = int(clock.wall())
    app[STORE] = store
    app[BUDGETS] = budgets
    app[CLIENT_LIMITS] = ClientLimits(store)
    app[METRICS] = metrics
    app[HEALTH] = health
    app[PLUGINS] = plugins
    app[READINESS] = Readiness()
    app[RECENT] = RecentRequests(clock)
    app[ACCESS] = Access(metrics, app[RECENT])
    app[PROXY] = Proxy(health, budgets, metrics, clock, sleep)
    app[RESPONSES_STORE] = ResponsesStore(store, state.response_ttl_s)
    app[RUNTIME] = RuntimeRef(build_runtime(config, plugins, rng, clock.wall))
    app[STARTUP_CONFIG] = config
    if reload_config is not None:
        app[RELOADER] = lambda: build_runtime(reload_config(), plugins, rng, clock.wall)
    app[RETIRED] = set()
    app.router.add_post("/v1/chat/completions", openai.chat_completions)
    app.router.add_post("/v1/messages", anthropic.messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic.count_tokens)
    app.router.add_post("/v1/responses", responses.create)
    app.router.add_get("/v1/responses/{id}", responses.retrieve)
    app.router.add_delete("/v1/responses/{id}", responses.delete)
    app.router.add_get("/v1/models", models.list_models)
    app.router.add_get("/v1/models/{id:.+}", models.get_model)  # ids hold slashes
    app.router.add_get("/status", ops.status)
    app.router.add_get("/status/requests", ops.recent_requests)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    Console.load().add_routes(app)
    app.on_response_prepare.append(drop_server_banner)
    # First in, last out: the store outlives everything that uses it.
    app.cleanup_ctx.append(_store_context)
    if cooldowns is not None:
        app.cleanup_ctx.append(cooldowns.context(health))
    if reports is not None:
        app.cleanup_ctx.append(reports.context(budgets))
    app.cleanup_ctx.append(_lifecycle)
    # Its own RNG: drawing from the strategies' one would change their picks.
    prober = Prober(health, budgets, metrics, lambda: app[RUNTIME].current, clock,
                    random.Random())
    app[PROBER] = prober
    app.cleanup_ctx.append(prober.context)  # after _lifecycle: stopped before the runtime closes
    discovery = app[DISCOVERY] = Refresher(app[RUNTIME], plugins.strategies, rng, clock)
    if RELOADER in app:  # a reloaded config gets the discovered models at once
        app[RELOADER] = discovery.reloader(app[RELOADER])
    app.cleanup_ctx.append(discovery.context)  # stopped before the runtime closes
    return app


def announce(runtime: Runtime) -> None:
    """Log the pool now served."""
    pool = runtime.pool
    logs.log_pool_summary(list(pool.backends.values()),
                          {name: [b.id for b in t.backends] for name, t in pool.routes.items()})


async def _store_context(app: web.Application) -> AsyncIterator[None]:
    store: StateStore = app[STORE]
    await store.heartbeat()  # know the other replicas before the first request
    upkeep = asyncio.get_running_loop().create_task(store.maintain())
    yield
    upkeep.cancel()
    await asyncio.gather(upkeep, return_exceptions=True)
    await store.aclose()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    announce(app[RUNTIME].current)
    app[READINESS].ready = True
    yield
    app[READINESS].ready = False
    retiring: set[asyncio.Task[None]] = app[RETIRED]
    for task in retiring:
        task.cancel()  # their `finally` closes the old runtimes now rather than later
    await asyncio.gather(*retiring, return_exceptions=True)
    await app[RUNTIME].current.aclose()


def swap_runtime(app: web.Application, runtime: Runtime, grace_s: float) -> None:
    """Install a new Runtime; the old one's connections close once its requests had time to end."""
    old = app[RUNTIME].current
    app[RUNTIME].current = runtime
    announce(runtime)

    async def retire() -> None:
        try:
            await asyncio.sleep(grace_s)
        finally:
            await old.aclose()

    task = asyncio.get_running_loop().create_task(retire())
    app[RETIRED].add(task)
    task.add_done_callback(app[RETIRED].discard)
