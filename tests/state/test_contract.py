"""The StateStore contract, run against both implementations: the memory store and a real
redis-server. Both read the same fake clock (the Redis scripts take their instants from the
caller), so sliding windows and expiries are tested without waiting."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest

from bench.redis_server import RedisServer
from router.state.memory import MemoryStore
from router.state.redis import RedisStore
from router.state.store import Cooldown, Full, Report, Reservation, StateStore, Window
from tests.clock import FakeClock

RPM = Window("backend:p/m:rpm", 3, 60.0)
RPD = Window("backend:p/m:rpd", 5, 86400.0)
ACCOUNT = Window("provider:p:rpm", 4, 60.0)
TPM = Window("backend:p/m:tpm", 100, 60.0)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore(clock, "me")
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    redis = RedisStore(server.url, f"test-{uuid.uuid4().hex[:8]}:", 2.0, clock, "me")
    yield redis
    await redis.aclose()


def granted(result: Reservation | Full) -> Reservation:
    assert isinstance(result, Reservation), result
    return result


def refused(result: Reservation | Full) -> Full:
    assert isinstance(result, Full), result
    return result


async def test_a_window_grants_up_to_its_limit_then_says_when(store: StateStore,
                                                               clock: FakeClock) -> None:
    rooms = []
    for _ in range(3):
        rooms.append(granted(await store.reserve([RPM])).rooms)
        clock.advance(10)
    assert rooms == [(2,), (1,), (0,)]
    full = refused(await store.reserve([RPM]))
    # The oldest of the three leaves the window 60 s after it came: 30 s from now.
    assert full.retry_in_s == pytest.approx(30.0, abs=0.01)
    assert full.rooms == (0,)
    clock.advance(29.9)
    refused(await store.reserve([RPM]))
    clock.advance(0.2)
    assert granted(await store.reserve([RPM])).rooms == (0,)


async def test_all_windows_or_none(store: StateStore) -> None:
    for _ in range(3):
        granted(await store.reserve([RPM, ACCOUNT]))
    refused(await store.reserve([RPM, ACCOUNT]))
    # The refusal counted nothing against the account: one slot of it is still free.
    assert await store.room([ACCOUNT, RPM]) == (1, 0)
    other = Window("backend:p/n:rpm", 3, 60.0)
    assert granted(await store.reserve([other, ACCOUNT])).rooms == (2, 0)
    full = refused(await store.reserve([other, ACCOUNT]))
    assert full.rooms == (2, 0)


async def test_room_counts_nothing(store: StateStore) -> None:
    assert await store.room([RPM, RPD]) == (3, 5)
    granted(await store.reserve([RPM, RPD]))
    for _ in range(5):
        assert await store.room([RPM, RPD]) == (2, 4)
    assert await store.room([]) == ()


async def test_a_cost_counts_its_units(store: StateStore, clock: FakeClock) -> None:
    assert granted(await store.reserve([TPM], 60)).rooms == (40,)
    clock.advance(5)
    assert granted(await store.reserve([TPM], 30)).rooms == (10,)
    full = refused(await store.reserve([TPM], 50))
    # 40 more units must leave: the first reservation (60) does, 60 s after it came.
    assert full.retry_in_s == pytest.approx(55.0, abs=0.01)
    granted(await store.reserve([TPM], 10))


async def test_a_cost_above_the_limit_never_fits(store: StateStore) -> None:
    full = refused(await store.reserve([TPM], 101))
    assert full.retry_in_s == pytest.approx(60.0)
    assert await store.room([TPM]) == (100,)


async def test_adjust_replaces_the_cost_at_the_same_instant(store: StateStore,
                                                            clock: FakeClock) -> None:
    estimate = granted(await store.reserve([TPM], 80))
    clock.advance(20)
    actual = await store.adjust(estimate, 30)
    assert actual.cost == 30 and actual.rooms == (70,)
    assert await store.room([TPM]) == (70,)
    refused(await store.reserve([TPM], 71))
    # Still counted from its original instant: it leaves 60 s after the estimate was made.
    clock.advance(40.1)
    assert await store.room([TPM]) == (100,)
    # Adjusting an entry that already left is a no-op.
    await store.adjust(actual, 90)
    assert await store.room([TPM]) == (100,)


async def test_refund_and_adjust_to_zero_give_the_room_back(store: StateStore) -> None:
    one = granted(await store.reserve([RPM, RPD]))
    two = granted(await store.reserve([RPM, RPD]))
    await store.refund(one)
    assert await store.room([RPM, RPD]) == (2, 4)
    await store.adjust(two, 0)
    assert await store.room([RPM, RPD]) == (3, 5)
    await store.refund(two)  # twice: nothing more to give back
    assert await store.room([RPM, RPD]) == (3, 5)


PER_REQUEST = Window("backend:p/r:rpm", 3, 60.0, per_request=True)
TOKENS = Window("backend:p/r:tpm", 100, 60.0)


async def test_a_per_request_window_counts_one_whatever_the_cost(store: StateStore,
                                                                 clock: FakeClock) -> None:
    # One reservation of a request's token estimate goes into its rpm and its tpm at once.
    first = granted(await store.reserve([PER_REQUEST, TOKENS], 40))
    assert first.rooms == (2, 60)
    # The reported usage replaces the estimate in the token window only.
    used = await store.adjust(first, 25)
    assert used.rooms == (2, 75)
    # A failed attempt gives its tokens back; its request was sent and stays counted.
    second = granted(await store.reserve([PER_REQUEST, TOKENS], 70))
    await store.adjust(second, 0)
    assert await store.room([PER_REQUEST, TOKENS]) == (1, 75)
    # A refund takes the whole reservation back, from every window.
    await store.refund(used)
    assert await store.room([PER_REQUEST, TOKENS]) == (2, 100)
    # Full on the token window for a big estimate, while a small one still fits.
    granted(await store.reserve([PER_REQUEST, TOKENS], 90))
    full = refused(await store.reserve([PER_REQUEST, TOKENS], 20))
    assert full.rooms == (1, 10) and full.waits[0] == 0 and full.waits[1] > 0
    assert granted(await store.reserve([PER_REQUEST, TOKENS], 10)).rooms == (0, 0)
    # Now the request window is full whatever the cost.
    full = refused(await store.reserve([PER_REQUEST, TOKENS], 1))
    assert full.waits[0] > 0
    clock.advance(60.1)
    assert await store.room([PER_REQUEST, TOKENS]) == (3, 100)


async def test_never_more_than_the_limit_in_any_span(store: StateStore, clock: FakeClock) -> None:
    rng = random.Random(7)
    window = Window("backend:p/x:rpm", 5, 60.0)
    sent: list[float] = []
    for _ in range(150):
        clock.advance(rng.choice((0.0, 0.5, 3.0, 11.0)))
        result = await store.reserve([window])
        if isinstance(result, Reservation):
            sent.append(clock.monotonic())
        else:
            assert result.retry_in_s > 0
            if rng.random() < 0.3:  # a client that waits as told always gets in
                clock.advance(result.retry_in_s)
                granted(await store.reserve([window]))
                sent.append(clock.monotonic())
    assert len(sent) > 20
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u - t < 60.0) <= 5


async def test_cooldowns_only_extend_and_end_by_themselves(store: StateStore,
                                                           clock: FakeClock) -> None:
    now = clock.wall()
    await store.set_cooldown(Cooldown("backend:wait:p/m", now + 30, "rate_limited"))
    await store.set_cooldown(Cooldown("backend:wait:p/m", now + 10, "server_error"))
    await store.set_cooldown(Cooldown("provider:wait:p", now + 5, "rate_limited"))
    await store.set_cooldown(Cooldown("backend:eject:p/n", now - 1, "timeout"))  # already over
    found = {c.key: c for c in await store.cooldowns()}
    assert set(found) == {"backend:wait:p/m", "provider:wait:p"}
    assert found["backend:wait:p/m"].reason == "rate_limited"
    assert found["backend:wait:p/m"].until_epoch == pytest.approx(now + 30, abs=0.01)
    await store.set_cooldown(Cooldown("backend:wait:p/m", now + 60, "client_error"))
    clock.advance(6)
    found = {c.key: c for c in await store.cooldowns()}
    assert list(found) == ["backend:wait:p/m"]
    assert found["backend:wait:p/m"].reason == "client_error"
    assert found["backend:wait:p/m"].until_epoch == pytest.approx(now + 60, abs=0.01)


async def test_heartbeat_counts_this_replica(store: StateStore) -> None:
    replicas = await store.heartbeat()
    assert replicas.me == "me" and replicas.ids == ("me",)
    assert store.replicas() == replicas
    assert replicas.share(7) == 7


async def test_responses_round_trip(store: StateStore) -> None:
    assert await store.get_response("resp_1") is None
    await store.put_response("resp_1", b"\x00first", 3600)
    await store.put_response("resp_2", b"second", 3600)
    assert await store.get_response("resp_1") == b"\x00first"
    await store.put_response("resp_1", b"replaced", 3600)
    assert await store.get_response("resp_1") == b"replaced"
    assert await store.delete_response("resp_1")
    assert not await store.delete_response("resp_1")
    assert await store.get_response("resp_1") is None
    assert await store.get_response("resp_2") == b"second"


def heard(reports: tuple[Report, ...]) -> dict[str, tuple[int, float, float, int | None]]:
    """Reports by key, instants to the ms a Redis keeps (resets rounded up, as-ofs down)."""
    return {r.key: (r.remaining, round(r.until_epoch, 2), round(r.as_of_epoch, 2), r.limit)
            for r in reports}


async def test_a_report_is_kept_until_its_reset_and_a_fresher_one_wins(store: StateStore,
                                                                       clock: FakeClock) -> None:
    clock.epoch = float(int(clock.epoch))  # whole seconds: what Redis gives back is the same
    now = clock.wall()
    tokens = Report("backend:p/m:tpm", 100, now + 30, now - 1, 6000)
    requests = Report("backend:openrouter/x:free:rpm", 3, now + 90, now - 1)
    await store.put_reports([tokens, requests])
    assert heard(await store.reports()) == heard((tokens, requests))
    stale = Report("backend:p/m:tpm", 5000, now + 30, now - 2, 6000)  # heard before, told late
    fresher = Report("backend:p/m:tpm", 40, now + 25, now - 0.5, 6000)
    await store.put_reports([stale])
    assert heard(await store.reports()) == heard((tokens, requests))
    await store.put_reports([fresher])
    assert heard(await store.reports()) == heard((fresher, requests))
    clock.advance(25)  # its reset: gone
    assert heard(await store.reports()) == heard((requests,))
    await store.put_reports([Report("backend:p/m:rpd", 7, now + 10, now)])  # reset already
    assert heard(await store.reports()) == heard((requests,))
    clock.advance(65)
    assert await store.reports() == ()
