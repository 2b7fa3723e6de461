"""The one error tree. Foreign errors (aiohttp, JSON, OS) are mapped into it at the edges.

    RouterError
    ├── RequestError            the client's request is wrong (4xx to the client)
    │   ├── Unauthorized        401
    │   ├── ModelNotFound       404, lists what exists
    │   ├── NotFound            404, a stored object (a Responses API response) that is not there
    │   ├── NoCapableBackend    400, names each missing capability
    │   ├── TooManyRequests     429, a client key over its own rate limit
    │   └── PayloadTooLarge     413
    ├── Overloaded              capable backends exist but all cool down / are over budget
    │                           (503, Anthropic 529) with Retry-After
    ├── AllFailed               every candidate tried failed (502)
    └── UpstreamError           one attempt at one backend failed; `reason` is its label
        ├── UpstreamTimeout     reason timeout
        ├── UpstreamConnectError reason connect
        ├── RateLimited         reason rate_limited (429; carries the cooldown hint)
        ├── UpstreamServerError reason server_error (408, 5xx)
        ├── UpstreamClientError reason client_error (401/403/404/...: the backend's fault)
        ├── UpstreamRejected    the upstream judged the request itself invalid (400/422):
        │                       relayed to the client, not failed over, not a backend fault
        ├── OverTokenBudget     reason budget: this request alone is over the backend's token
        │                       budget (Groq's 413): failed over, nothing cools
        ├── BadResponse         reason bad_response (empty, malformed, wrong content type)
        └── StreamError         reason stream_error (the stream broke after it started)
"""

from __future__ import annotations

from typing import TypeVar

from router.types import FailureReason


class RouterError(Exception):
    status: int = 500
    error_type: str = "api_error"  # the error `type`, OpenAI flavour

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


E = TypeVar("E", bound=BaseException)


def detached(error: E) -> E:
    """`error` without its traceback and the exceptions it chained to, for keeping past the
    `except` that caught it: kept whole in a frame its traceback reaches (or, on 3.12+, that
    its context's traceback reaches), it ties that frame, and the request it holds, into a
    cycle that only the garbage collector frees."""
    error.__context__ = error.__cause__ = None
    return error.with_traceback(None)


class RequestError(RouterError):
    status = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class Unauthorized(RequestError):
    status = 401
    error_type = "authentication_error"


class ModelNotFound(RequestError):
    status = 404
    error_type = "not_found_error"


class NotFound(RequestError):
    status = 404


class NoCapableBackend(RequestError):
    status = 400


class TooManyRequests(RequestError):
    """A client key went over its own request rate limit."""

    status = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(RequestError):
    status = 413
    error_type = "request_too_large"


class Overloaded(RouterError):
    status = 503
    error_type = "overloaded_error"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AllFailed(RouterError):
    status = 502
    error_type = "upstream_error"

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class UpstreamError(RouterError):
    """One attempt failed. `status` is the upstream's HTTP status when there was one."""

    reason: FailureReason = FailureReason.BAD_RESPONSE
    status = 502

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
        provider_wide: bool = False,
        until_epoch: float | None = None,
        tpm_limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s
        self.provider_wide = provider_wide
        self.until_epoch = until_epoch
        self.tpm_limit = tpm_limit  # the tokens per minute the upstream stated in its error


class UpstreamTimeout(UpstreamError):
    reason = FailureReason.TIMEOUT


class UpstreamConnectError(UpstreamError):
    reason = FailureReason.CONNECT


class RateLimited(UpstreamError):
    reason = FailureReason.RATE_LIMITED


class UpstreamServerError(UpstreamError):
    reason = FailureReason.SERVER_ERROR


class UpstreamClientError(UpstreamError):
    reason = FailureReason.CLIENT_ERROR


class UpstreamRejected(UpstreamError):
    """The upstream said the request is invalid; the client gets that answer as-is."""

    reason = FailureReason.CLIENT_ERROR
    status = 400

    def __init__(self, message: str, *, upstream_status: int, body: object = None) -> None:
        super().__init__(message, upstream_status=upstream_status)
        self.status = upstream_status
        self.body = body


class OverTokenBudget(UpstreamError):
    """This request is larger than the backend's tokens-per-minute limit (prompt plus declared
    output): it cannot be served there, but the backend is fine for everyone else."""

    reason = FailureReason.BUDGET


class BadResponse(UpstreamError):
    reason = FailureReason.BAD_RESPONSE


class StreamError(UpstreamError):
    reason = FailureReason.STREAM_ERROR
