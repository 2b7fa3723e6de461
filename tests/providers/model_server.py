"""A fake provider on loopback for discovery tests: it lists models in the documented shapes
(an OpenAI-style GET /v1/models, Ollama's /api/tags and /api/show) and answers chat completions
with router.demo.upstream.FakeUpstream's handler, so a discovered model can be called end to end.
The listings are plain attributes a test rewrites between refreshes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from router.demo.upstream import FakeUpstream


class ModelServer:
    def __init__(self) -> None:
        self.models: Any = {"object": "list", "data": []}  # the GET /v1/models body
        self.tags: list[str] = []  # Ollama's installed models, in /api/tags order
        self.shows: dict[str, Any] = {}  # Ollama's POST /api/show body per model
        self.fail_status: int | None = None  # every listing answers this while set
        self.hits: Counter[str] = Counter()  # listing requests by path
        self.authorization: list[str | None] = []  # the Authorization header of each listing
        self.upstream = FakeUpstream()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_get("/api/version", self._version)
        # The chat side is FakeUpstream's own handler, mounted beside the listings.
        for route in self.upstream.app().router.routes():
            if route.method == "POST" and route.resource is not None:
                app.router.add_route(route.method, route.resource.canonical, route.handler)
        return app

    def _seen(self, request: web.Request) -> web.Response | None:
        self.hits[request.path] += 1
        self.authorization.append(request.headers.get("Authorization"))
        if self.fail_status is not None:
            return web.json_response({"error": {"message": "listing unavailable"}}, status=self.fail_status)
        return None

    async def _models(self, request: web.Request) -> web.Response:
        return self._seen(request) or web.json_response(self.models)

    async def _tags(self, request: web.Request) -> web.Response:
        if (failed := self._seen(request)) is not None:
            return failed
        return web.json_response(
            {"models": [{"name": n, "model": n, "modified_at": "2026-10-01T10:00:00Z"} for n in self.tags]}
        )

    async def _show(self, request: web.Request) -> web.Response:
        if (failed := self._seen(request)) is not None:
            return failed
        name = (await request.json()).get("model")
        if name not in self.shows:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        return web.json_response(self.shows[name])

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.6"})

