"""The memory store on a fake clock: what only it has (bounded Responses, expiry without a
server), the replica share arithmetic, and the window property over arbitrary traffic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.state.memory import MemoryStore
from router.state.store import Replicas, Reservation, Window
from tests.clock import FakeClock


async def test_responses_expire_on_the_clock(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    await store.put_response("a", b"x", 10)
    clock.advance(9.9)
    assert await store.get_response("a") == b"x"
    clock.advance(0.2)
    assert await store.get_response("a") is None
    assert not await store.delete_response("a")


async def test_responses_are_bounded_in_count_oldest_dropped_first(clock: FakeClock) -> None:
    store = MemoryStore(clock, max_responses=3)
    for key in "abcd":
        await store.put_response(key, key.encode(), 3600)
    assert [await store.get_response(k) for k in "abcd"] == [None, b"b", b"c", b"d"]


async def test_responses_are_bounded_in_bytes(clock: FakeClock) -> None:
    store = MemoryStore(clock, max_response_bytes=10)
    await store.put_response("a", b"12345", 3600)
    await store.put_response("b", b"12345", 3600)
    await store.put_response("c", b"1", 3600)  # 11 bytes in all: the oldest goes
    assert await store.get_response("a") is None
    assert await store.get_response("b") == b"12345"
    await store.put_response("huge", b"x" * 11, 3600)  # alone over the bound: never kept
    assert await store.get_response("huge") is None
    assert await store.get_response("c") == b"1"


async def test_an_expired_response_makes_room(clock: FakeClock) -> None:
    store = MemoryStore(clock, max_responses=2)
    await store.put_response("old", b"1", 5)
    await store.put_response("kept", b"2", 3600)
    clock.advance(6)
    await store.put_response("new", b"3", 3600)
    assert await store.get_response("kept") == b"2" and await store.get_response("new") == b"3"


async def test_a_response_kept_again_takes_a_new_place_in_the_order(clock: FakeClock) -> None:
    store = MemoryStore(clock, max_responses=2)
    await store.put_response("a", b"1", 3600)
    await store.put_response("b", b"2", 3600)
    await store.put_response("a", b"3", 3600)  # replaced: now the newest
    await store.put_response("c", b"4", 3600)  # so "b" is the oldest, and goes
    assert [await store.get_response(k) for k in "abc"] == [b"3", None, b"4"]


async def test_a_deleted_response_leaves_no_trace_in_the_bounds(clock: FakeClock) -> None:
    store = MemoryStore(clock, max_responses=2, max_response_bytes=4)
    await store.put_response("a", b"12", 3600)
    assert await store.delete_response("a")
    await store.put_response("b", b"12", 3600)
    await store.put_response("a", b"34", 3600)  # deleted, then kept anew: no older self to evict
    assert [await store.get_response(k) for k in "ab"] == [b"34", b"12"]


_KEYS = st.sampled_from("abcde")
_STEPS = st.lists(st.one_of(
    st.tuples(st.just("put"), _KEYS, st.binary(max_size=6), st.sampled_from([5.0, 50.0])),
    st.tuples(st.just("delete"), _KEYS),
    st.tuples(st.just("advance"), st.floats(0, 30)),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps=_STEPS, count=st.integers(1, 4), size=st.integers(0, 12))
async def test_responses_behave_as_an_oldest_first_list(steps: list[tuple[object, ...]], count: int,
                                                        size: int) -> None:
    """Against a model: a list oldest first, swept of its expired head before each put, cut
    from the head to its bounds after."""
    clock = FakeClock()
    store = MemoryStore(clock, max_responses=count, max_response_bytes=size)
    model: list[tuple[str, bytes, float]] = []

    def alive(key: str) -> bytes | None:
        return next((b for k, b, at in model if k == key and at > clock.monotonic()), None)

    for step in steps:
        match step:
            case ("put", str(key), bytes(blob), float(ttl)):
                await store.put_response(key, blob, ttl)
                model = [e for e in model if e[0] != key]
                while model and model[0][2] <= clock.monotonic():
                    model.pop(0)
                if len(blob) <= size:
                    model.append((key, blob, clock.monotonic() + ttl))
                    while len(model) > count or sum(len(e[1]) for e in model) > size:
                        model.pop(0)
            case ("delete", str(key)):
                assert await store.delete_response(key) == (alive(key) is not None)
                model = [e for e in model if e[0] != key]
            case ("advance", float(seconds)):
                clock.advance(seconds)
            case _:
                raise AssertionError(f"unknown step {step!r}")
        assert [await store.get_response(k) for k in "abcde"] == [alive(k) for k in "abcde"]


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(0, 50), count=st.integers(1, 20), data=st.data())
def test_shares_add_up_to_the_budget(limit: int, count: int, data: st.DataObject) -> None:
    ids = tuple(sorted(f"replica-{i}" for i in range(count)))
    shares = [Replicas(ids, me).share(limit) for me in ids]
    assert sum(shares) == limit
    assert max(shares) - min(shares) <= 1
    # A replica not yet in the list counts itself in.
    newcomer = Replicas(ids, data.draw(st.sampled_from(["a", "z", "replica-5x"])))
    assert newcomer.share(limit) in (limit // (count + 1), limit // (count + 1) + 1)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(1, 30),
       traffic=st.lists(st.tuples(st.floats(0.0, 20.0, allow_nan=False), st.integers(1, 10)),
                        min_size=1, max_size=120))
def test_never_more_than_the_limit_in_any_span(limit: int,
                                               traffic: list[tuple[float, int]]) -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    window = Window("w", limit, 60.0)
    sent: list[tuple[float, int]] = []
    for gap, cost in traffic:
        clock.advance(gap)
        result = store.reserve_now([window], cost)
        if isinstance(result, Reservation):
            sent.append((clock.monotonic(), cost))
        else:
            assert result.retry_in_s > 0
    for i, (t, _) in enumerate(sent):
        assert sum(c for u, c in sent[i:] if u - t < 60.0) <= limit


def test_after_the_wait_there_is_room(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    window = Window("w", 10, 60.0)
    for cost in (4, 3, 3, 5, 7, 2, 10, 1):
        result = store.reserve_now([window], cost)
        if not isinstance(result, Reservation):
            clock.advance(result.retry_in_s)
            assert isinstance(store.reserve_now([window], cost), Reservation)
        clock.advance(7)
