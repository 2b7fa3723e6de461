"""The OpenAI Responses API surface: POST /v1/responses, GET and DELETE /v1/responses/{id}.

Only the body's shape is checked before routing (router.api.responses_body), with errors that
name the offending field; everything a backend may or may not support is the proxy's business.
The conversation state lives here: `previous_response_id` and `item_reference` items are
resolved against the stored responses before the request is routed, so routing and
translation always see the whole input, and with `store` (the default) the answer is kept,
with that input, before its last byte reaches the client."""

from __future__ import annotations

import orjson
from aiohttp import web

from router.api.body import read_json
from router.api.middleware import CALL
from router.api.responses_body import validate_responses_body
from router.appkeys import PROXY, RESPONSES_STORE, RUNTIME
from router.errors import NotFound, RequestError
from router.responses_store import ResponsesStore, StoredResponse
from router.translate.responses_output import response_of_item
from router.types import JSON


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

    async def keep(answer: JSON, encoded: bytes) -> None:
        await store.keep(answer, items, encoded)

    return await app[PROXY].serve(request, runtime, call, body, {},
                                  keep if body.get("store") is not False else None)


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
    if isinstance(raw, str):
        items: list[JSON] = [{"type": "message", "role": "user", "content": raw}]
        if body.get("previous_response_id") is None:
            return items  # nothing earlier, nothing to resolve: the common first turn
    else:
        items = list(raw or ())
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
