"""Stored Responses API answers (`store`, `previous_response_id`, `item_reference`, GET and
DELETE /v1/responses/{id}): each response with the whole input it answered, kept for a TTL as
one blob under its id.

The blobs live in whatever implements `Blobs`: the three Responses methods of the state store
(router.state), which keeps them in this process (bounded by count and bytes, the oldest
dropped first) or in Redis, shared by every replica. A store that fails never fails the
request: an answer it could not keep is only not found later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import orjson

from router import logs
from router.types import JSON


class Blobs(Protocol):
    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None: ...

    async def get_response(self, key: str) -> bytes | None:
        """The blob put under `key`, or None when unknown or expired."""
        ...

    async def delete_response(self, key: str) -> bool:
        """Whether there was one to delete."""
        ...


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: JSON  # the response object, as GET /v1/responses/{id} returns it
    input: list[JSON]  # every input item it answered, previous responses' included


class ResponsesStore:
    def __init__(self, blobs: Blobs, ttl_s: float) -> None:
        self._blobs = blobs
        self._ttl_s = ttl_s

    async def keep(self, response: JSON, input_items: list[JSON], encoded: bytes | None = None) -> None:
        """Keep `response` (`encoded`: its JSON, when the caller has serialised it already)."""
        blob = b'{"response":%b,"input":%b}' % (encoded or orjson.dumps(response),
                                                orjson.dumps(input_items))
        try:
            await self._blobs.put_response(str(response.get("id")), blob, self._ttl_s)
        except Exception as exc:  # a store going away degrades service, never a request
            logs.logger().warning("response not stored", error=type(exc).__name__)

    async def load(self, response_id: str) -> StoredResponse | None:
        try:
            blob = await self._blobs.get_response(response_id)
        except Exception as exc:
            logs.logger().warning("stored response unreadable", error=type(exc).__name__)
            return None
        if blob is None:
            return None
        try:
            found = orjson.loads(blob)
            return StoredResponse(found["response"], found["input"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None

    async def delete(self, response_id: str) -> bool:
        try:
            return await self._blobs.delete_response(response_id)
        except Exception as exc:
            logs.logger().warning("stored response not deleted", error=type(exc).__name__)
            return False
