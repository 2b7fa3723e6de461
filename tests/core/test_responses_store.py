"""The stored Responses: the memory blobs are bounded by count and bytes (oldest dropped first)
and expire on the injected clock; a failing store fails no request."""

from __future__ import annotations

import pytest

from router.responses_store import MemoryBlobs, ResponsesStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now


async def test_blobs_expire_on_the_clock() -> None:
    clock = FakeClock()
    blobs = MemoryBlobs(clock)
    await blobs.put_response("a", b"1", ttl_s=10)
    clock.now += 9.9
    assert await blobs.get_response("a") == b"1"
    clock.now += 0.2
    assert await blobs.get_response("a") is None
    assert await blobs.delete_response("a") is False


async def test_blobs_are_bounded_by_count_and_bytes_oldest_first() -> None:
    clock = FakeClock()
    blobs = MemoryBlobs(clock, max_count=3, max_bytes=10)
    for key in "abc":
        await blobs.put_response(key, b"xx", ttl_s=60)
    await blobs.put_response("d", b"xx", ttl_s=60)
    assert [await blobs.get_response(k) for k in "abcd"] == [None, b"xx", b"xx", b"xx"]
    await blobs.put_response("e", b"x" * 7, ttl_s=60)  # 2 + 2 + 2 + 7 > 10: b and c go
    assert [await blobs.get_response(k) for k in "bcde"] == [None, None, b"xx", b"x" * 7]
    await blobs.put_response("huge", b"x" * 11, ttl_s=60)  # can never fit: nothing evicted for it
    assert await blobs.get_response("huge") is None and await blobs.get_response("d") == b"xx"
    assert await blobs.delete_response("d") is True and await blobs.get_response("d") is None


async def test_expired_blobs_are_dropped_as_new_ones_come() -> None:
    clock = FakeClock()
    blobs = MemoryBlobs(clock)
    await blobs.put_response("a", b"11", ttl_s=1)
    clock.now += 2
    await blobs.put_response("b", b"2", ttl_s=100)  # far from any bound: "a" goes as expired
    assert len(blobs) == 1 and await blobs.get_response("b") == b"2"


async def test_the_store_keeps_a_response_with_its_input() -> None:
    store = ResponsesStore(MemoryBlobs(FakeClock()), ttl_s=60)
    await store.keep({"id": "resp_1", "output": []}, [{"role": "user", "content": "hi"}])
    found = await store.load("resp_1")
    assert found is not None and found.response["id"] == "resp_1"
    assert found.input == [{"role": "user", "content": "hi"}]
    assert await store.delete("resp_1") and await store.load("resp_1") is None


class BrokenBlobs:
    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        raise ConnectionError("gone")

    async def get_response(self, key: str) -> bytes | None:
        raise ConnectionError("gone")

    async def delete_response(self, key: str) -> bool:
        raise ConnectionError("gone")


@pytest.mark.parametrize("garbage", [b"not json", b'{"response": {}}', b"[1]"])
async def test_unreadable_blobs_are_not_found(garbage: bytes) -> None:
    blobs = MemoryBlobs(FakeClock())
    await blobs.put_response("resp_x", garbage, ttl_s=60)
    assert await ResponsesStore(blobs).load("resp_x") is None


async def test_a_failing_store_fails_no_request() -> None:
    store = ResponsesStore(BrokenBlobs())
    await store.keep({"id": "resp_1"}, [])
    assert await store.load("resp_1") is None
    assert await store.delete("resp_1") is False
