"""Stored Responses API answers (`store`, `previous_response_id`, `item_reference`, GET and
DELETE /v1/responses/{id}): each response with the whole input it answered, kept for a TTL as
one blob under its id.

The blobs live in whatever implements `Blobs` (three methods, the Responses part of the state
store's seam); `MemoryBlobs` keeps them in this process, bounded by count and bytes, the oldest
dropped first. A store that fails never fails the request: an answer it could not keep is only
not found later."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import orjson

from router import logs
from router.clock import Clock
from router.types import JSON

DEFAULT_TTL_S = 3600.0  # INTERFACE.md's `[state] response_ttl_s` default
MAX_RESPONSES = 10_000
MAX_BYTES = 64 * 1024 * 1024


class Blobs(Protocol):
    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None: ...

    async def get_response(self, key: str) -> bytes | None:
        """The blob put under `key`, or None when unknown or expired."""
        ...

    async def delete_response(self, key: str) -> bool:
        """Whether there was one to delete."""
        ...


class MemoryBlobs:
    """Blobs in this process: at most `max_count` of them and `max_bytes` in all (the oldest go
    first), each until its TTL is over on the injected clock."""

    def __init__(self, clock: Clock, max_count: int = MAX_RESPONSES, max_bytes: int = MAX_BYTES) -> None:
        self._clock = clock
        self._max_count = max_count
        self._max_bytes = max_bytes
        self._blobs: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # oldest first
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._blobs)

    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        now = self._clock.monotonic()
        self._drop(key)
        if len(blob) > self._max_bytes:
            return  # could never fit: keeping it would evict everything else for nothing
        self._blobs[key] = (blob, now + ttl_s)
        self._bytes += len(blob)
        self._evict(now)

    async def get_response(self, key: str) -> bytes | None:
        found = self._blobs.get(key)
        if found is None:
            return None
        if found[1] <= self._clock.monotonic():
            self._drop(key)
            return None
        return found[0]

    async def delete_response(self, key: str) -> bool:
        found = self._blobs.get(key)
        alive = found is not None and found[1] > self._clock.monotonic()
        self._drop(key)
        return alive

    def _drop(self, key: str) -> None:
        found = self._blobs.pop(key, None)
        if found is not None:
            self._bytes -= len(found[0])

    def _evict(self, now: float) -> None:
        # Oldest first: with one TTL for all, the expired ones are at the front, and this stays
        # O(1) per put however many are kept (a longer-lived blob ahead only delays the others).
        while self._blobs:
            oldest = next(iter(self._blobs))
            if self._blobs[oldest][1] > now and len(self._blobs) <= self._max_count \
                    and self._bytes <= self._max_bytes:
                return
            self._drop(oldest)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: JSON  # the response object, as GET /v1/responses/{id} returns it
    input: list[JSON]  # every input item it answered, previous responses' included


class ResponsesStore:
    def __init__(self, blobs: Blobs, ttl_s: float = DEFAULT_TTL_S) -> None:
        self._blobs = blobs
        self._ttl_s = ttl_s

    async def keep(self, response: JSON, input_items: list[JSON]) -> None:
        blob = orjson.dumps({"response": response, "input": input_items})
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
