"""Serving the console's files: read once from the package when the app is built, each with its
content type, a strong ETag and a Content-Security-Policy that allows this origin only (no inline
script or style, nothing from elsewhere).

Caching: the page (`/ui/`) is `no-cache`, so a browser revalidates it every time (a 304 while it
is unchanged) and sees a new release at once. The page names its stylesheet, script and icon with
`?v=<content hash>`; asked for with the current hash they are immutable for a year, asked for any
other way they are `no-cache` like the page."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import orjson
from aiohttp import hdrs, web

from router.wire import OPENAI_CHAT

PREFIX = "/ui/"
PAGE = "index.html"
# The files the page links to, served under PREFIX, with their content types.
ASSETS: Mapping[str, str] = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
PAGE_TYPE = "text/html; charset=utf-8"
REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
READ_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD})


@dataclass(frozen=True, slots=True)
class File:
    body: bytes
    content_type: str
    version: str  # a prefix of the content hash

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @classmethod
    def of(cls, body: bytes, content_type: str) -> File:
        return cls(body, content_type, hashlib.sha256(body).hexdigest()[:16])


class Console:
    """The page and its files, and the handlers that serve them."""

    def __init__(self, page: File, assets: Mapping[str, File]) -> None:
        self.page = page
        self.assets = dict(assets)

    @classmethod
    def load(cls) -> Console:
        """Read the files shipped in the package; the page gets its links versioned."""
        static = resources.files("router.ui").joinpath("static")
        assets = {name: File.of(static.joinpath(name).read_bytes(), content_type)
                  for name, content_type in ASSETS.items()}
        page = static.joinpath(PAGE).read_bytes()
        for name, asset in assets.items():
            page = page.replace(f'"{name}"'.encode(), f'"{name}?v={asset.version}"'.encode())
        return cls(File.of(page, PAGE_TYPE), assets)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/", self.to_console)
        app.router.add_route("*", PREFIX.rstrip("/"), self.to_console)
        app.router.add_route("*", PREFIX + "{name:.*}", self.serve)

    async def to_console(self, request: web.Request) -> web.StreamResponse:
        if request.method not in READ_METHODS:
            return _error(405, "method not allowed", {"Allow": "GET, HEAD"})
        return web.Response(status=302, headers={**SECURITY_HEADERS, "Location": PREFIX})

    async def serve(self, request: web.Request) -> web.StreamResponse:
        if request.method not in READ_METHODS:
            return _error(405, "method not allowed", {"Allow": "GET, HEAD"})
        name = request.match_info["name"]
        if name in ("", PAGE):
            return _answer(request, self.page, REVALIDATE)
        asset = self.assets.get(name)
        if asset is None:
            return _error(404, "no such console file")
        versioned = request.query.get("v") == asset.version
        return _answer(request, asset, IMMUTABLE if versioned else REVALIDATE)


def _answer(request: web.Request, file: File, cache: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": file.etag}
    if _matches(request.headers.get(hdrs.IF_NONE_MATCH), file.etag):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = file.content_type
    return web.Response(body=file.body, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison over a list of tags, or `*`."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _error(status: int, message: str, extra: Mapping[str, str] | None = None) -> web.Response:
    """Errors in the OpenAI shape, like every other path of the router."""
    error_type = "not_found_error" if status == 404 else "invalid_request_error"
    body = OPENAI_CHAT.error_body(error_type, message)
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers={**SECURITY_HEADERS, **(extra or {})})
