"""GET /v1/models: the routes and backends, in the shape of the caller's API (the OpenAI list, or
the Anthropic paged shape for callers that send `anthropic-version`)."""

from __future__ import annotations

from aiohttp import web

from router.api.middleware import CALL
from router.appkeys import RUNTIME, STARTED_AT
from router.pool import Pool
from router.wire import ModelEntry

OWNER = "freerouter"


def entries(pool: Pool, created: int) -> list[ModelEntry]:
    """Every route (with what its backends offer together), then every backend."""
    out = []
    for route in pool.routes.values():
        caps = tuple(sorted({c.value for b in route.backends for c in b.capabilities}))
        ctx = max((b.context_length for b in route.backends), default=0)
        out.append(ModelEntry(route.label, OWNER, caps, ctx, created))
    for b in pool.backends.values():
        caps = tuple(sorted(c.value for c in b.capabilities))
        out.append(ModelEntry(b.id, b.provider, caps, b.context_length, created))
    return out


async def list_models(request: web.Request) -> web.Response:
    listed = entries(request.app[RUNTIME].current.pool, request.app[STARTED_AT])
    return web.json_response(request[CALL].wire.model_list(listed, request.query))
