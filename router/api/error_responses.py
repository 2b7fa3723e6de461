"""Every error as an answer in the caller's API format (never HTML, never a traceback)."""

from __future__ import annotations

import math

import orjson
from aiohttp import web

from router import logs
from router.call import Call
from router.errors import Overloaded, RequestError, RouterError, TooManyRequests
from router.redact import redact


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


def http_error_response(call: Call, exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (404 no route, 405, 413 from its body limit) in the caller's format."""
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


def internal_error_response(call: Call, path: str, exc: Exception) -> web.Response:
    """A bug in the router: logged by type and place only (no traceback, body or key reaches a
    log line), answered as a 500 in the caller's format."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
    logs.logger().error("unhandled error", request_id=call.request_id, path=path,
                        error=type(exc).__name__, where=where)
    return error_response(call, RouterError("internal error in the router"))
