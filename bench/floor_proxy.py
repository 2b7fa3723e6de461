"""The floor reference: the least an aiohttp pass-through proxy can do per request.

One pooled ``ClientSession``; the request body is forwarded as is and the answer
is relayed (streamed when the upstream streams). No parsing, no routing, no
metrics: whatever a real router adds is measured against this.

Run: ``python -m bench.floor_proxy --port 0 --upstream http://127.0.0.1:8001``.

``--settle-heap`` sets up the garbage collector as ``freerouter serve`` does once it listens
(router/heap.py): a reference row, so that what that setting buys is not read as the router's
own cost coming down.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from bench import eventloop
from bench.serve import serve_until_stopped
from router import heap

_FORWARDED_REQUEST_HEADERS = ("Content-Type", "Authorization", "x-api-key", "anthropic-version")
_SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)


def _is_stream(response: aiohttp.ClientResponse) -> bool:
    return response.content_type == "text/event-stream"


def _forward(upstream: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        session = request.app[_SESSION_KEY]
        headers = {k: v for k in _FORWARDED_REQUEST_HEADERS if (v := request.headers.get(k))}
        body = await request.read()
        async with session.request(
            request.method, upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            if not _is_stream(answer):
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    content_type=answer.content_type,
                )
            relay = web.StreamResponse(status=answer.status, headers={"Content-Type": "text/event-stream"})
            await relay.prepare(request)
            try:
                async for piece in answer.content.iter_any():
                    await relay.write(piece)
                await relay.write_eof()
            except ConnectionResetError:
                # The client hung up; leaving the block closes the upstream stream too.
                pass
            return relay

    return handle


def make_app(upstream: str) -> web.Application:
    async def session_context(app: web.Application) -> AsyncIterator[None]:
        # limit=0: the floor must never queue on its own pool; the client's
        # concurrency is the only bound.
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            app[_SESSION_KEY] = session
            yield

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{tail:.*}", _forward(upstream.rstrip("/")))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002, help="0 picks a free port")
    parser.add_argument("--upstream", required=True, help="scheme://host:port of the upstream")
    parser.add_argument("--settle-heap", action="store_true",
                        help="freeze the startup heap and raise the young GC threshold, as "
                             "freerouter serve does")
    args = parser.parse_args(argv)
    eventloop.run(serve_until_stopped(make_app(args.upstream), args.host, args.port,
                                      heap.settle if args.settle_heap else None))


if __name__ == "__main__":
    main()
