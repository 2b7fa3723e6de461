"""The stored Responses over the state store: a response is kept with its input for the TTL
(on the injected clock) and can be deleted; an unreadable blob is not found; a failing store
fails no request. (The memory store's bounds are tested with the state store.)"""

from __future__ import annotations

import orjson
import pytest

from router.responses_store import ResponsesStore
from router.state.memory import MemoryStore
from tests.clock import FakeClock


async def test_a_response_is_kept_with_its_input_for_the_ttl() -> None:
    clock = FakeClock()
    store = ResponsesStore(MemoryStore(clock), ttl_s=60)
    await store.keep({"id": "resp_1", "output": []}, [{"role": "user", "content": "hi"}])
    found = await store.load("resp_1")
    assert found is not None and found.response["id"] == "resp_1"
    assert found.input == [{"role": "user", "content": "hi"}]
    clock.advance(61)
    assert await store.load("resp_1") is None


async def test_an_answer_already_serialised_is_kept_as_serialised() -> None:
    store = ResponsesStore(MemoryStore(FakeClock()), ttl_s=60)
    answer = {"id": "resp_1", "output": []}
    # The bytes are what is kept (the proxy has them already): here they say a little more.
    await store.keep(answer, [], orjson.dumps({**answer, "status": "completed"}))
    found = await store.load("resp_1")
    assert found is not None and found.response == {**answer, "status": "completed"}


async def test_delete() -> None:
    store = ResponsesStore(MemoryStore(FakeClock()), ttl_s=60)
    await store.keep({"id": "resp_1", "output": []}, [])
    assert await store.delete("resp_1") and await store.load("resp_1") is None
    assert await store.delete("resp_1") is False


@pytest.mark.parametrize("garbage", [b"not json", b'{"response": {}}', b"[1]"])
async def test_unreadable_blobs_are_not_found(garbage: bytes) -> None:
    blobs = MemoryStore(FakeClock())
    await blobs.put_response("resp_x", garbage, ttl_s=60)
    assert await ResponsesStore(blobs, ttl_s=60).load("resp_x") is None


class BrokenBlobs:
    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        raise ConnectionError("gone")

    async def get_response(self, key: str) -> bytes | None:
        raise ConnectionError("gone")

    async def delete_response(self, key: str) -> bool:
        raise ConnectionError("gone")


async def test_a_failing_store_fails_no_request() -> None:
    store = ResponsesStore(BrokenBlobs(), ttl_s=60)
    await store.keep({"id": "resp_1"}, [])
    assert await store.load("resp_1") is None
    assert await store.delete("resp_1") is False
