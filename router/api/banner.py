"""No `Server` banner on any answer: aiohttp names itself and the Python version by default
(`Python/3.11 aiohttp/3.x`), which tells nobody but a scanner anything."""

from __future__ import annotations

from aiohttp import hdrs, web


async def drop_server_banner(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: aiohttp fills in `Server` just before this runs."""
    response.headers.popall(hdrs.SERVER, None)
