"""Reading a client's JSON body: size limit, content type, JSON, and the shape checks that both
APIs share. Each failure is a RequestError that names the problem."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from router.errors import PayloadTooLarge, RequestError
from router.types import JSON

# Anthropic's own maximum; nobody sends more in one request.
MAX_MESSAGES = 100_000
MAX_TOOLS = 1024
# JSON nesting deeper than this is refused by orjson itself (a 400 "not valid JSON").


async def read_json(request: web.Request) -> JSON:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(
            f"the request body is larger than the limit of {request.client_max_size} bytes"
        ) from None
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream", "") and not ctype.endswith("+json"):
        raise RequestError(f"Content-Type must be application/json, not {ctype!r}")
    if not raw:
        raise RequestError("the request body is empty; a JSON object is expected")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def require_messages(body: JSON, roles: frozenset[str]) -> None:
    messages: Any = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("`messages` must be a non-empty array", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise RequestError(f"`messages` has {len(messages)} entries; at most {MAX_MESSAGES} are "
                           "accepted", param="messages")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or len(tools) > MAX_TOOLS):
        raise RequestError(f"`tools` must be an array of at most {MAX_TOOLS} tools", param="tools")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = m.get("role")
        if role not in roles:
            raise RequestError(
                f"messages[{i}].role must be one of {', '.join(sorted(roles))}, got {role!r}",
                param=f"messages[{i}].role",
            )
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise RequestError(f"messages[{i}].content must be a string or an array",
                               param=f"messages[{i}].content")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("`stream` must be a boolean", param="stream")
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise RequestError(f"`{key}` must be a positive integer", param=key)


# -- field checks the APIs share (a body's value, and the `where` that names it in the error)


def check_object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise RequestError(f"`{where}` must be an object", param=where)


def check_bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise RequestError(f"`{where}` must be a boolean", param=where)


def check_string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise RequestError(f"`{where}` must be a string", param=where)


def check_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"`{where}` must be a number", param=where)


def first_untyped(values: list[Any]) -> int | None:
    """The index of the first of `values` that is not a content block or part (an object with
    a string `type`); None when all are. Valid bodies, the common case, format no error path."""
    for j, value in enumerate(values):
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            return j
    return None


def untyped_error(where: str) -> RequestError:
    return RequestError(f"`{where}` must be an object with a string `type`", param=where)


def check_text_or_typed(value: Any, where: str, parts: str) -> None:
    """A string, or an array of typed objects (`parts` names them in the error)."""
    if isinstance(value, str):
        return
    if not isinstance(value, list):
        raise RequestError(f"`{where}` must be a string or an array of {parts}", param=where)
    bad = first_untyped(value)
    if bad is not None:
        raise untyped_error(f"{where}[{bad}]")
