"""GET /v1/models: the routes and backends, in the shape of the caller's API (the OpenAI list, or
the Anthropic paged shape for callers that send `anthropic-version`); GET /v1/models/{id}: one of
them, in the same shapes.

An id is resolved as a request's `model` is (a route, an alias, a backend id, `X:free` or a
bare upstream model name): the answer keeps the id asked for, as the official APIs do, describes
what it resolves to, and names that in `resolves_to` when it is another id (an alias)."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from router.api.middleware import CALL
from router.appkeys import RUNTIME, STARTED_AT
from router.pool import Pool, Target
from router.types import Backend
from router.wire import ModelEntry

OWNER = "freerouter"


def entries(pool: Pool, created: int) -> list[ModelEntry]:
    """Every route (with what its backends offer together), then every backend."""
    return [*(_route_entry(route, created) for route in pool.routes.values()),
            *(_backend_entry(b, created) for b in pool.backends.values())]


async def list_models(request: web.Request) -> web.Response:
    listed = entries(request.app[RUNTIME].current.pool, request.app[STARTED_AT])
    return web.json_response(request[CALL].wire.model_list(listed, request.query))


async def get_model(request: web.Request) -> web.Response:
    pool = request.app[RUNTIME].current.pool
    asked = request.match_info["id"]
    call = request[CALL]
    target = pool.plan(asked, None)[0]  # ModelNotFound: a 404 in the caller's format
    call.route = target.label
    entry = _entry(pool, target, request.app[STARTED_AT])
    body = call.wire.model_object(replace(entry, id=asked))
    if asked != target.label:
        body["resolves_to"] = target.label
    return web.json_response(body)


def _entry(pool: Pool, target: Target, created: int) -> ModelEntry:
    if target.label in pool.routes:
        return _route_entry(target, created)
    (backend,) = target.backends  # a backend asked for directly
    return _backend_entry(backend, created)


def _backend_entry(backend: Backend, created: int) -> ModelEntry:
    caps = tuple(sorted(c.value for c in backend.capabilities))
    return ModelEntry(backend.id, backend.provider, caps, backend.context_length, created)


def _route_entry(route: Target, created: int) -> ModelEntry:
    caps = tuple(sorted({c.value for b in route.backends for c in b.capabilities}))
    ctx = max((b.context_length for b in route.backends), default=0)
    return ModelEntry(route.label, OWNER, caps, ctx, created)
