"""The one middleware layer every request passes (one layer: each costs a coroutine per request).
It opens the Call record, admits the client (router.api.auth), turns every error into the
caller's API format (router.api.error_responses) and hands the closed Call to router.access."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from router.api.auth import admit, is_open
from router.api.error_responses import error_response, http_error_response, internal_error_response
from router.appkeys import ACCESS, CLIENT_LIMITS, CLOCK, RUNTIME
from router.call import Call
from router.errors import RouterError
from router.request_ids import RequestIds
from router.wire import recognise

CALL = web.RequestKey("call", Call)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    request_ids = RequestIds()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_open(request.path):
            return await handler(request)
        app = request.app
        clock = app[CLOCK]
        call = Call(wire=recognise(request.path, request.headers), started=clock.monotonic(),
                    request_id=request_ids(request.headers.get("x-request-id")))
        request[CALL] = call
        response: web.StreamResponse | None = None
        try:
            config = app[RUNTIME].current.config
            if config.client_keys:
                call.client = await admit(request, config.client_keys, app[CLIENT_LIMITS],
                                          config.server.client_rpm)
            response = await handler(request)
            if not response.prepared:  # streams set it themselves before their first byte
                response.headers.setdefault("x-request-id", call.request_id)
        except RouterError as exc:
            response = error_response(call, exc, app[RUNTIME].current.secrets)
        except web.HTTPException as exc:
            response = http_error_response(call, exc)
        except Exception as exc:
            response = internal_error_response(call, request.path, exc)
        finally:
            call.status = response.status if response is not None else 499  # client went away
            if request.path.startswith("/v1/"):
                app[ACCESS].done(call, clock.monotonic() - call.started)
        return response

    return middleware
