"""Error bodies between the APIs (wire.md §4.1). A relayed upstream error keeps its message;
its type is carried over when the client's API knows it and mapped otherwise."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import orjson

from router.types import JSON

ANTHROPIC_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "conflict_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
    }
)

# OpenAI error types and codes that name an Anthropic type
_ANTHROPIC_FOR_OPENAI = MappingProxyType(
    {
        "rate_limit_exceeded": "rate_limit_error",
        "requests": "rate_limit_error",
        "tokens": "rate_limit_error",
        "insufficient_quota": "billing_error",
        "invalid_api_key": "authentication_error",
        "authentication_error": "authentication_error",
        "permission_error": "permission_error",
        "model_not_found": "not_found_error",
        "server_error": "api_error",
        "timeout": "timeout_error",
    }
)


def _message(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return orjson.dumps(body).decode()


def anthropic_type_of(openai_error: JSON, default: str = "invalid_request_error") -> str:
    """The Anthropic error type an OpenAI error body's `code` or `type` names."""
    for key in ("code", "type"):
        value = openai_error.get(key)
        if value in ANTHROPIC_TYPES:
            return str(value)
        if isinstance(value, str) and value in _ANTHROPIC_FOR_OPENAI:
            return _ANTHROPIC_FOR_OPENAI[value]
    return default


def to_anthropic(body: JSON) -> JSON:
    """An OpenAI-shaped error (or whatever a compatible server sent) as an Anthropic one."""
    inner = body.get("error")
    detail = inner if isinstance(inner, dict) else {}
    message = _message(inner if inner is not None else body)
    return {
        "type": "error",
        "error": {"type": anthropic_type_of(detail), "message": message},
    }


def to_openai(body: JSON) -> JSON:
    inner = body.get("error")
    detail = inner if isinstance(inner, dict) else {}
    kind = detail.get("type")
    return {
        "error": {
            "message": _message(inner if inner is not None else body),
            "type": kind if isinstance(kind, str) else "invalid_request_error",
            "param": None,
            "code": kind if isinstance(kind, str) else None,
        }
    }
