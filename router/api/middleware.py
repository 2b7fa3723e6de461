"""The middleware every request passes: it opens the Call record, checks client keys, turns every
error into the caller's API format (never HTML, never a traceback), and closes the Call with one
access-log line and the request metrics."""

from __future__ import annotations

import hmac
import itertools
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web

from router import logs
from router.appkeys import CLIENT_LIMITS, CLOCK, METRICS, RUNTIME
from router.call import Call
from router.errors import Overloaded, RequestError, RouterError, TooManyRequests, Unauthorized
from router.redact import redact
from router.wire import recognise

CALL = web.RequestKey("call", Call)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Paths that never need a client key (restrict them by network policy instead).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def authenticate(request: web.Request, client_keys: Mapping[str, str]) -> str:
    """The name of the client key presented; `client_keys` maps key -> name."""
    presented = _presented_key(request)
    if presented is None:
        raise Unauthorized("a client key is required (Authorization: Bearer KEY or x-api-key)")
    # aiohttp decodes header bytes with surrogateescape: encode them back the same way.
    given = presented.encode("utf-8", "surrogateescape")
    found = None
    for key, name in client_keys.items():  # compare with every key, in constant time each
        if hmac.compare_digest(key.encode(), given):
            found = name
    if found is None:
        raise Unauthorized("the client key is not valid")
    return found


def make_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    # Request ids: a random per-process prefix and a counter (uuid4 costs a getrandom
    # syscall per request); unique across replicas and restarts in practice.
    prefix = secrets.token_hex(6)
    counter = itertools.count(1)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        clock = request.app[CLOCK]
        call = Call(wire=recognise(request.path, request.headers), started=clock.monotonic(),
                    request_id=request.headers.get("x-request-id") or f"{prefix}{next(counter):010x}")
        request[CALL] = call
        response: web.StreamResponse | None = None
        try:
            client_keys = request.app[RUNTIME].current.config.client_keys
            if client_keys:
                call.client = authenticate(request, client_keys)
                wait = request.app[CLIENT_LIMITS].admit(call.client)
                if wait is not None:
                    raise TooManyRequests(f"client key {call.client!r} is over its request rate "
                                          "limit", retry_after_s=wait)
            response = await handler(request)
            if not response.prepared:  # streams set it themselves before their first byte
                response.headers.setdefault("x-request-id", call.request_id)
        except RouterError as exc:
            response = error_response(call, exc, request.app[RUNTIME].current.secrets)
        except web.HTTPException as exc:
            response = _http_exception(call, exc)
        except Exception as exc:
            # Logged by type and place only: no traceback, body or key reaches a log line.
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
            logs.logger().error("unhandled error", request_id=call.request_id, path=request.path,
                                error=type(exc).__name__, where=where)
            response = error_response(call, RouterError("internal error in the router"))
        finally:
            status = response.status if response is not None else 499  # client went away
            call.status = status
            if request.path.startswith("/v1/"):
                duration = clock.monotonic() - call.started
                metrics = request.app[METRICS]
                metrics.request_done(call.api, call.route, status, duration)
                if call.backend and (call.prompt_tokens or call.completion_tokens):
                    metrics.used_tokens(call.backend, call.prompt_tokens, call.completion_tokens)
                _log(request, call, duration)
        return response

    return middleware


def error_response(call: Call, exc: RouterError, secrets: tuple[str, ...] = ()) -> web.Response:
    wire = call.wire
    status = wire.overloaded_status if isinstance(exc, Overloaded) else exc.status
    error_type = wire.error_type(exc, status)
    param = exc.param if isinstance(exc, RequestError) else None
    code = exc.code if isinstance(exc, RequestError) else None
    call.error = error_type
    body = wire.error_body(error_type, redact(exc.message, secrets), param=param, code=code,
                           request_id=call.request_id)
    headers = {"x-request-id": call.request_id}
    if call.attempts:
        headers["x-freerouter-attempts"] = str(call.attempts)
        if call.backend:
            headers["x-freerouter-backend"] = call.backend
    if isinstance(exc, Overloaded | TooManyRequests):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


def _http_exception(call: Call, exc: web.HTTPException) -> web.Response:
    if exc.status < 400:
        raise exc
    err = RequestError(exc.reason if exc.status != 404 else "no such endpoint")
    err.status = exc.status
    if exc.status == 413:
        err.message = "the request body is larger than the configured max_body_bytes"
        err.error_type = "request_too_large"
    response = error_response(call, err)
    if exc.status == 405:
        response.headers["Allow"] = exc.headers.get("Allow", "")
    return response


def _presented_key(request: web.Request) -> str | None:
    """A non-empty Bearer token, else x-api-key (some SDKs send both)."""
    auth = request.headers.get("Authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return bearer or request.headers.get("x-api-key") or None


def _log(request: web.Request, call: Call, duration_s: float) -> None:
    logs.access_log(
        request_id=call.request_id, api=call.api, route=call.route, status=call.status,
        duration_ms=round(duration_s * 1000, 2), attempts=call.attempts, strategy=call.strategy,
        backend=call.backend,
        ttft_ms=round(call.ttft_s * 1000, 2) if call.ttft_s is not None else None,
        prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
        client=call.client, stream=call.stream, error=call.error,
    )
