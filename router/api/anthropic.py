"""The Anthropic Messages surface: POST /v1/messages (with or without `?beta=true`) and
POST /v1/messages/count_tokens.

Only the body's shape is checked here, with errors that name the offending field; everything a
backend may or may not support is the proxy's business. The client's `anthropic-version` and
`anthropic-beta` travel with the request so that an Anthropic upstream sees what the client sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from router.api.body import (
    check_number,
    check_object,
    check_text_or_typed,
    first_untyped,
    read_json,
    require_messages,
    untyped_error,
)
from router.api.middleware import CALL
from router.appkeys import PROXY, RUNTIME
from router.errors import RequestError
from router.types import JSON

# `system` inside messages is not in the public API, but Claude Code sends it (clients.md §1).
ROLES = frozenset({"user", "assistant", "system"})
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


async def messages(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    validate_messages_body(body)
    app = request.app
    return await app[PROXY].serve(
        request, app[RUNTIME].current, request[CALL], body, client_headers(request.headers)
    )


async def count_tokens(request: web.Request) -> web.Response:
    body = await read_json(request)
    validate_messages_body(body)
    pool = request.app[RUNTIME].current.pool
    # Resolved like a real request so that a typo is a 404 here too, not a silent estimate.
    request[CALL].route = pool.plan(body.get("model"), None)[0].label
    needs = request[CALL].wire.analyse(body, None)
    return web.json_response({"input_tokens": needs.prompt_tokens})


def client_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in FORWARDED_HEADERS if name in headers}


def validate_messages_body(body: JSON) -> None:
    """Shape checks a Messages request must pass; RequestError names the first problem."""
    require_messages(body, ROLES)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestError("`model` is required and must be a string", param="model")
    for i, message in enumerate(body["messages"]):
        _check_content(message.get("content"), i)
    for key, check in _TOP_LEVEL.items():
        if body.get(key) is not None:
            check(body[key], key)


def _check_content(content: Any, i: int) -> None:
    """messages[i].content; its name is formatted only for an error."""
    if content is None:
        raise RequestError(f"`messages[{i}].content` is required", param=f"messages[{i}].content")
    if isinstance(content, list) and (bad := first_untyped(content)) is not None:
        raise untyped_error(f"messages[{i}].content[{bad}]")


def _check_system(system: Any, where: str) -> None:
    check_text_or_typed(system, where, "text blocks")


def _check_list_of_objects(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RequestError(f"`{where}` must be an array of objects", param=where)


def _check_strings(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestError(f"`{where}` must be an array of strings", param=where)


_TOP_LEVEL: Mapping[str, Callable[[Any, str], None]] = {
    "system": _check_system,
    "tools": _check_list_of_objects,
    "tool_choice": check_object,
    "metadata": check_object,
    "thinking": check_object,
    "stop_sequences": _check_strings,
    "temperature": check_number,
    "top_p": check_number,
}
