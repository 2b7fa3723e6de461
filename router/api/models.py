"""GET /v1/models: the routes and backends, in the OpenAI list shape, or the Anthropic paged
shape when the caller sends an `anthropic-version` header."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from router.appkeys import RUNTIME
from router.errors import RequestError
from router.pool import Pool
from router.types import JSON

OWNER = "freerouter"
MAX_LIMIT = 1000
STARTED_AT = int(time.time())  # the `created` stamp of every listed model


def _entries(pool: Pool) -> list[tuple[str, str, list[str], int]]:
    """(id, owner, capabilities, context_length) for every route, then every backend."""
    out = []
    for route in pool.routes.values():
        caps = sorted({c.value for b in route.backends for c in b.capabilities})
        ctx = max((b.context_length for b in route.backends), default=0)
        out.append((route.label, OWNER, caps, ctx))
    for b in pool.backends.values():
        out.append((b.id, b.provider, sorted(c.value for c in b.capabilities), b.context_length))
    return out


async def list_models(request: web.Request) -> web.Response:
    pool = request.app[RUNTIME].current.pool
    created = STARTED_AT
    if "anthropic-version" in request.headers:
        return web.json_response(_anthropic_page(pool, request, created))
    data = [
        {"id": i, "object": "model", "created": created, "owned_by": owner,
         "capabilities": caps, "context_length": ctx}
        for i, owner, caps, ctx in _entries(pool)
    ]
    return web.json_response({"object": "list", "data": data})


def _anthropic_page(pool: Pool, request: web.Request, created: int) -> JSON:
    q = request.query
    try:
        limit = int(q.get("limit", "20"))
    except ValueError:
        raise RequestError("limit must be an integer", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise RequestError(f"limit must be between 1 and {MAX_LIMIT}", param="limit")
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    models = [
        {"type": "model", "id": i, "display_name": i, "created_at": stamp,
         "owned_by": owner, "capabilities": caps, "max_input_tokens": ctx}
        for i, owner, caps, ctx in _entries(pool)
    ]
    ids = [i for i, _o, _c, _x in _entries(pool)]
    if "before_id" in q:
        end = _index(ids, q["before_id"], "before_id")
        start = max(end - limit, 0)
        has_more = start > 0
    else:
        start = _index(ids, q["after_id"], "after_id") + 1 if "after_id" in q else 0
        end = min(start + limit, len(models))
        has_more = end < len(models)
    page = models[start:end]
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def _index(ids: list[str], value: str, param: str) -> int:
    try:
        return ids.index(value)
    except ValueError:
        raise RequestError(f"{param} {value!r} is not a model id", param=param) from None
