"""The OpenAI Responses API surface: POST /v1/responses, GET and DELETE /v1/responses/{id}.

Only the body's shape is checked here, with errors that name the offending field (unknown
fields are ignored); everything a backend may or may not support is the proxy's business. The
conversation state lives here too: `previous_response_id` and `item_reference` items are
resolved against the stored responses before the request is routed, so routing and
translation always see the whole input, and with `store` (the default) the answer is kept,
with that input, before its last byte reaches the client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import orjson
from aiohttp import web

from router.api.body import MAX_MESSAGES, MAX_TOOLS, read_json
from router.api.middleware import CALL
from router.appkeys import PROXY, RESPONSES_STORE, RUNTIME
from router.errors import NotFound, RequestError
from router.proxy import Keep
from router.responses_store import ResponsesStore, StoredResponse
from router.translate.responses_output import response_of_item
from router.types import JSON

ROLES = frozenset({"user", "assistant", "system", "developer"})


async def create(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    validate_responses_body(body)
    app = request.app
    runtime = app[RUNTIME].current
    call = request[CALL]
    # The model is resolved before the conversation is loaded, so that an answer given before
    # routing (an unknown previous_response_id) is counted under the route it asked for.
    call.route = runtime.pool.plan(body.get("model"), body.get("models"))[0].label
    store = app[RESPONSES_STORE]
    items = await _conversation(body, store)
    body["input"] = items
    keep: Keep | None = partial(store.keep, input_items=items) if body.get("store") is not False else None
    return await app[PROXY].serve(request, runtime, call, body, {}, keep)


async def retrieve(request: web.Request) -> web.Response:
    stored = await _stored(request)
    return web.Response(body=orjson.dumps(stored.response), content_type="application/json")


async def delete(request: web.Request) -> web.Response:
    response_id = request.match_info["id"]
    if not await request.app[RESPONSES_STORE].delete(response_id):
        raise _not_found(response_id)
    return web.Response(body=orjson.dumps({"id": response_id, "object": "response", "deleted": True}),
                        content_type="application/json")


async def _stored(request: web.Request) -> StoredResponse:
    response_id = request.match_info["id"]
    stored = await request.app[RESPONSES_STORE].load(response_id)
    if stored is None:
        raise _not_found(response_id)
    return stored


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id {response_id!r} not found (responses are kept only with "
                    "`store` true, for [state] response_ttl_s).")


# -- the conversation ------------------------------------------------------------------------


async def _conversation(body: JSON, store: ResponsesStore) -> list[JSON]:
    """The whole input: a previous response's input and output first, then this request's
    items, with every item_reference replaced by the item it names."""
    raw = body.get("input")
    items: list[JSON] = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) \
        else list(raw or ())
    loaded: dict[str, StoredResponse | None] = {}
    earlier: list[JSON] = []
    previous = body.get("previous_response_id")
    if isinstance(previous, str):
        found = loaded[previous] = await store.load(previous)
        if found is None:
            raise RequestError(
                f"Previous response with id {previous!r} not found: it was not stored (`store` "
                "false), was deleted, or is older than [state] response_ttl_s.",
                param="previous_response_id", code="previous_response_not_found")
        earlier = [*found.input, *found.response.get("output", ())]
    resolved = [await _referenced(item, i, earlier, loaded, store)
                if item.get("type") == "item_reference" else item for i, item in enumerate(items)]
    return [*earlier, *resolved]


async def _referenced(reference: JSON, position: int, earlier: list[JSON],
                      loaded: dict[str, StoredResponse | None], store: ResponsesStore) -> JSON:
    wanted = reference["id"]
    for item in earlier:
        if item.get("id") == wanted:
            return item
    response_id = response_of_item(wanted)
    if response_id is not None:
        if response_id not in loaded:
            loaded[response_id] = await store.load(response_id)
        stored = loaded[response_id]
        for item in [*stored.response.get("output", ()), *stored.input] if stored else ():
            if isinstance(item, dict) and item.get("id") == wanted:
                return item
    raise RequestError(
        f"Item with id {wanted!r} not found: items can be referenced only from a response that "
        "was stored (`store` true, the default) within [state] response_ttl_s; otherwise send "
        "the item itself (AI SDK: providerOptions.openai.store = false).",
        param=f"input[{position}].id")


# -- shape checks ----------------------------------------------------------------------------


def validate_responses_body(body: JSON) -> None:
    """Shape checks a Responses request must pass; RequestError names the first problem."""
    _check_input(body)
    for key, check in _TOP_LEVEL.items():
        if body.get(key) is not None:
            check(body[key], key)


def _check_input(body: JSON) -> None:
    raw = body.get("input")
    if raw is None or raw == [] or raw == "":
        if body.get("previous_response_id") is None and not body.get("instructions"):
            raise RequestError("`input` is required: a string or an array of input items",
                               param="input")
        return
    if isinstance(raw, str):
        return
    if not isinstance(raw, list):
        raise RequestError("`input` must be a string or an array of input items", param="input")
    if len(raw) > MAX_MESSAGES:
        raise RequestError(f"`input` has {len(raw)} items; at most {MAX_MESSAGES} are accepted",
                           param="input")
    for i, item in enumerate(raw):
        _check_item(item, f"input[{i}]")


def _check_item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise RequestError(f"`{where}` must be an object", param=where)
    kind = item.get("type")
    if kind is not None and not isinstance(kind, str):
        raise RequestError(f"`{where}.type` must be a string", param=f"{where}.type")
    if kind in (None, "message"):
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise RequestError(f"`{where}.role` must be one of {', '.join(sorted(ROLES))}, got {role!r}",
                               param=f"{where}.role")
        _check_content(item.get("content"), f"{where}.content")
    elif kind == "item_reference" and not isinstance(item.get("id"), str):
        raise RequestError(f"`{where}.id` is required (the id of the item referenced)",
                           param=f"{where}.id")
    elif kind in ("function_call", "function_call_output", "custom_tool_call",
                  "custom_tool_call_output") and not isinstance(item.get("call_id"), str):
        raise RequestError(f"`{where}.call_id` is required and must be a string",
                           param=f"{where}.call_id")


def _check_content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise RequestError(f"`{where}` must be a string or an array of content parts", param=where)
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestError(f"`{where}[{j}]` must be an object with a string `type`",
                               param=f"{where}[{j}]")


def _check_tools(value: Any, where: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_TOOLS or not all(isinstance(t, dict) for t in value):
        raise RequestError(f"`{where}` must be an array of at most {MAX_TOOLS} tool objects", param=where)


def _check_bool(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise RequestError(f"`{where}` must be a boolean", param=where)


def _check_positive(value: Any, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RequestError(f"`{where}` must be a positive integer", param=where)


def _check_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"`{where}` must be a number", param=where)


def _check_string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise RequestError(f"`{where}` must be a string", param=where)


def _check_object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise RequestError(f"`{where}` must be an object", param=where)


def _check_choice(value: Any, where: str) -> None:
    if not isinstance(value, str | dict):
        raise RequestError(f"`{where}` must be a string or an object", param=where)


_TOP_LEVEL: Mapping[str, Callable[[Any, str], None]] = {
    "tools": _check_tools,
    "tool_choice": _check_choice,
    "stream": _check_bool,
    "store": _check_bool,
    "parallel_tool_calls": _check_bool,
    "max_output_tokens": _check_positive,
    "temperature": _check_number,
    "top_p": _check_number,
    "instructions": _check_string,
    "previous_response_id": _check_string,
    "text": _check_object,
    "reasoning": _check_object,
    "metadata": _check_object,
}
