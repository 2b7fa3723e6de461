"""Error bodies in each API's own shape (wire.md §4.1), and the Anthropic error type of a status."""

from __future__ import annotations

from router.types import JSON, Api

ANTHROPIC_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 405: "not_found_error",
    409: "conflict_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 502: "api_error", 504: "timeout_error", 529: "overloaded_error",
}


def anthropic_type(status: int) -> str:
    if status in ANTHROPIC_TYPES:
        return ANTHROPIC_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def error_body(
    api: Api, error_type: str, message: str, *, param: str | None = None,
    code: str | None = None, request_id: str | None = None,
) -> JSON:
    if api is Api.ANTHROPIC:
        body: JSON = {"type": "error", "error": {"type": error_type, "message": message}}
        if request_id:
            body["request_id"] = request_id
        return body
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}
