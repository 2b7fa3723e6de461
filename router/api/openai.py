"""The OpenAI Chat Completions surface: POST /v1/chat/completions."""

from __future__ import annotations

from aiohttp import web

from router.api.body import read_json, require_messages
from router.api.middleware import CALL
from router.appkeys import PROXY, RUNTIME

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    require_messages(body, ROLES)
    app = request.app
    return await app[PROXY].serve(request, app[RUNTIME].current, request[CALL], body, {})
