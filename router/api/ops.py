"""Operational endpoints: liveness, readiness, metrics, status, the last requests."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from router.appkeys import BUDGETS, HEALTH, METRICS, READINESS, RECENT, RUNTIME
from router.errors import RequestError
from router.metrics import CONTENT_TYPE
from router.recent import DEFAULT_LIMIT


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.serving:
        return web.json_response({"status": "ready"})
    state = "draining" if readiness.draining else "starting"
    return web.json_response({"status": state}, status=503)


async def metrics(request: web.Request) -> web.Response:
    # The budget and health gauges, as of now: windows refill with or without traffic, and a
    # success updates a backend's score only when its health is next read.
    backends = request.app[RUNTIME].current.pool.backends.values()
    await request.app[BUDGETS].refresh(backends)
    request.app[HEALTH].refresh(backends)
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def status(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME].current
    health, budgets = request.app[HEALTH], request.app[BUDGETS]
    pool = list(runtime.pool.backends.values())
    await budgets.refresh(pool)
    backends = [{**health.status(b), "budget": asdict(budgets.left(b))} for b in pool]
    routes = [
        {"name": t.label, "strategy": t.strategy_name, "backends": [b.id for b in t.backends]}
        for t in runtime.pool.routes.values()
    ]
    return web.json_response({"backends": backends, "routes": routes})


async def recent_requests(request: web.Request) -> web.Response:
    """GET /status/requests?limit=N: the last requests answered, newest first."""
    recent = request.app[RECENT]
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    limit = int(raw) if raw.isascii() and raw.isdigit() else 0
    if not 1 <= limit <= recent.capacity:
        raise RequestError(f"limit must be an integer from 1 to {recent.capacity}", param="limit")
    secrets = request.app[RUNTIME].current.secrets
    return web.json_response({"requests": [e.render(secrets) for e in recent.latest(limit)]})
