"""Operational endpoints: liveness, readiness, metrics, status."""

from __future__ import annotations

from aiohttp import web

from router.appkeys import HEALTH, METRICS, READINESS, RUNTIME
from router.metrics import CONTENT_TYPE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.serving:
        return web.json_response({"status": "ready"})
    state = "draining" if readiness.draining else "starting"
    return web.json_response({"status": state}, status=503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def status(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME].current
    health = request.app[HEALTH]
    backends = [health.status(b) for b in runtime.pool.backends.values()]
    routes = [
        {"name": t.label, "strategy": t.strategy_name, "backends": [b.id for b in t.backends]}
        for t in runtime.pool.routes.values()
    ]
    return web.json_response({"backends": backends, "routes": routes})
