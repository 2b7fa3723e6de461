"""The Redis store against a real redis-server: what only Redis can show. Keys are prefixed and
expire, a reservation is one round trip, concurrent replicas never overrun a window, and every
failure (stopped, frozen, a wrong password, scripts flushed) is a StoreError that names the
operation and never the store's address or password."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bench.redis_server import RedisServer, running
from router.state.backends import safe_address
from router.state.redis import RedisStore
from router.state.store import Cooldown, Full, Report, Reservation, StoreError, Window
from tests.clock import FakeClock

RPM = Window("backend:p/m:rpm", 10, 60.0)
RPD = Window("backend:p/m:rpd", 1000, 86400.0)
TIMEOUT_S = 0.2


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def store(server: RedisServer, prefix: str, clock: FakeClock, replica: str = "r1",
          timeout_s: float = 2.0) -> RedisStore:
    return RedisStore(server.url, prefix, timeout_s, clock, replica)


async def test_every_key_is_prefixed_and_expires(redis_server: RedisServer, admin: aioredis.Redis,
                                                 prefix: str, clock: FakeClock) -> None:
    s = store(redis_server, prefix, clock)
    reservation = await s.reserve([RPM, RPD], 1)
    assert isinstance(reservation, Reservation)
    await s.adjust(reservation, 1)
    await s.reserve([Window("client:team-a:rpm", 5, 60.0)])
    await s.reserve([Window("backend:p/m:tpm", 1000, 60.0)], 50)  # a cost: the totals hash
    await s.set_cooldown(Cooldown("backend:wait:p/m", clock.wall() + 30, "rate_limited"))
    await s.heartbeat()
    await s.put_response("resp_1", b"{}", 3600)
    await s.put_reports([Report("backend:p/m:tpm", 100, clock.wall() + 20, clock.wall())])
    keys = [k.decode() async for k in admin.scan_iter(match=f"{prefix}*")]
    assert len(keys) == 10, keys  # four windows, and one key of each other kind
    assert {k.removeprefix(prefix).split(":", 1)[0] for k in keys} == {
        "window", "window-totals", "cooldowns", "reports", "replicas", "store-id", "response"}
    for key in keys:
        ttl_ms = await admin.pttl(key)
        assert ttl_ms > 0, f"{key} never expires"
        assert ttl_ms <= 2 * 86400 * 1000, key  # two days at most (the store id)
    assert 3599_000 <= await admin.pttl(f"{prefix}response:resp_1") <= 3600_000
    assert 29_000 <= await admin.pttl(f"{prefix}cooldowns") <= 31_000 + 1000
    assert 19_000 <= await admin.pttl(f"{prefix}reports") <= 21_000 + 1000  # until its reset
    await s.aclose()


async def test_a_reservation_is_one_round_trip(redis_server: RedisServer, admin: aioredis.Redis,
                                               prefix: str, clock: FakeClock) -> None:
    s = store(redis_server, prefix, clock)
    await s.reserve([RPM])  # loads the script on first use
    before = await admin.info("commandstats")
    for _ in range(5):
        await s.reserve([RPM, RPD])
    after = await admin.info("commandstats")

    def calls(stats: dict[str, dict[str, int]], command: str) -> int:
        return stats.get(f"cmdstat_{command}", {}).get("calls", 0)

    assert calls(after, "evalsha") - calls(before, "evalsha") == 5
    assert calls(after, "eval") == calls(before, "eval")
    await s.aclose()


async def test_a_reservation_sent_twice_is_counted_once(redis_server: RedisServer, prefix: str,
                                                        clock: FakeClock) -> None:
    # What a call whose reply was lost does: the same token goes again (RedisStore._call).
    rpm = Window("backend:p/m:rpm", 10, 60.0, per_request=True)
    tpm = Window("backend:p/m:tpm", 1000, 60.0)
    s = store(redis_server, prefix, clock)
    now = int(clock.wall() * 1000)
    for _ in range(2):
        granted, rooms, _ = await s._run_reserve("reserve", [rpm, tpm], 300, "same", now, False)
        assert granted and rooms == (9, 700)
    assert await s.room([rpm, tpm]) == (9, 700)
    await s.aclose()


async def test_replicas_never_overrun_a_window_together(redis_server: RedisServer, prefix: str,
                                                        clock: FakeClock) -> None:
    stores = [store(redis_server, prefix, clock, f"r{i}") for i in range(3)]
    results = await asyncio.gather(*(s.reserve([RPM]) for _ in range(20) for s in stores))
    assert sum(isinstance(r, Reservation) for r in results) == RPM.limit
    for s in stores:
        await s.aclose()


async def test_heartbeats_show_every_replica_and_a_leaver_goes_at_once(
    redis_server: RedisServer, prefix: str, clock: FakeClock
) -> None:
    one, two = store(redis_server, prefix, clock, "r1"), store(redis_server, prefix, clock, "r2")
    await one.heartbeat()
    assert (await two.heartbeat()).ids == ("r1", "r2")
    assert two.replicas().share(5) == 2 and one.replicas().share(5) == 5  # r1 has not looked yet
    assert (await one.heartbeat()).share(5) == 3
    await two.aclose()
    assert (await one.heartbeat()).ids == ("r1",)
    clock.advance(11)  # a replica silent for longer than the heartbeat TTL is not counted
    other = store(redis_server, prefix, clock, "r3")
    assert (await other.heartbeat()).ids == ("r3",)
    await one.aclose()
    await other.aclose()


async def test_flushed_scripts_are_loaded_again(redis_server: RedisServer, admin: aioredis.Redis,
                                                prefix: str, clock: FakeClock) -> None:
    s = store(redis_server, prefix, clock)
    assert isinstance(await s.reserve([RPM]), Reservation)
    await admin.script_flush()
    assert isinstance(await s.reserve([RPM]), Reservation)
    assert await s.room([RPM]) == (8,)
    await s.aclose()


async def test_a_stopped_store_fails_fast_and_a_restarted_one_answers(
    redis_binary: Path, tmp_path: Path, prefix: str, clock: FakeClock
) -> None:
    with running(redis_binary, tmp_path) as server:
        s = store(server, prefix, clock, timeout_s=TIMEOUT_S)
        assert isinstance(await s.reserve([RPM]), Reservation)
        server.stop()
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            await s.reserve([RPM])
        assert time.monotonic() - started < 1.0
        # One comparison: mypy would keep `not s.up` narrowed past the restart below.
        assert (caught.value.op, s.up) == ("reserve", False)
        server.start()
        # Same client, no restart: it reconnects (the data went with the killed process).
        assert isinstance(await s.reserve([RPM]), Reservation)
        assert s.up
        await s.aclose()


async def test_a_frozen_store_times_out(redis_binary: Path, tmp_path: Path, prefix: str,
                                        clock: FakeClock) -> None:
    with running(redis_binary, tmp_path) as server:
        s = store(server, prefix, clock, timeout_s=TIMEOUT_S)
        await s.heartbeat()
        server.freeze()
        try:
            for op in (s.reserve([RPM]), s.cooldowns(), s.get_response("x")):
                started = time.monotonic()
                with pytest.raises(StoreError):
                    await op
                # Bounded by the timeout, with room for a loaded machine.
                assert time.monotonic() - started < TIMEOUT_S + 1.0
        finally:
            server.thaw()
        assert isinstance(await s.reserve([RPM]), Reservation)
        await s.aclose()


async def test_a_slow_script_counts_as_a_failure(redis_server: RedisServer, admin: aioredis.Redis,
                                                 prefix: str, clock: FakeClock) -> None:
    s = store(redis_server, prefix, clock, timeout_s=TIMEOUT_S)
    await s.heartbeat()
    # redis-py leaves execute_command unannotated; it has no typed DEBUG SLEEP.
    sleeper = asyncio.ensure_future(
        admin.execute_command("DEBUG", "SLEEP", "0.6"))  # type: ignore[no-untyped-call]
    await asyncio.sleep(0.05)  # let DEBUG SLEEP reach the server first
    with pytest.raises(StoreError):
        await s.reserve([RPM])
    await sleeper
    assert isinstance(await s.reserve([RPM]), Reservation)
    await s.aclose()


async def test_no_error_shows_the_password(redis_binary: Path, tmp_path: Path, prefix: str,
                                           clock: FakeClock) -> None:
    secret = "s3cret-Pa55word"
    with running(redis_binary, tmp_path, password=secret) as server:
        good = store(server, prefix, clock)
        assert isinstance(await good.reserve([RPM]), Reservation)
        wrong = RedisStore(server.url.replace(secret, "wrong-" + secret), prefix, 2.0, clock, "x")
        with pytest.raises(StoreError) as caught:
            await wrong.reserve([RPM])
        assert secret not in str(caught.value) and secret not in repr(caught.value)
        assert caught.value.__cause__ is None  # the foreign error (and its text) is dropped
        assert safe_address(server.url) == f"redis://127.0.0.1:{server.port}/0"
        await good.aclose()
        await wrong.aclose()


async def test_counts_past_1e14_come_back_exact(redis_server: RedisServer, prefix: str,
                                                clock: FakeClock) -> None:
    # Lua 5.1 writes a number of 1e14 or more as "1e+14": a limit a provider states may be that
    # large (the config stops at 1e12), and every count must still read back as digits.
    big = Window("backend:p/m:tpd", 3 * 10**15, 86400.0)
    rpm = Window("backend:p/m:rpm", 10, 60.0, per_request=True)
    s = store(redis_server, prefix, clock)
    first = await s.reserve([big, rpm], 2 * 10**15)
    assert isinstance(first, Reservation) and first.rooms == (10**15, 9)
    second = await s.reserve([big], 2 * 10**15)  # its cost read back exactly: no room for it
    assert isinstance(second, Full) and second.rooms == (10**15,)
    assert second.waits == (86400.0,)
    assert await s.room([big]) == (10**15,)
    adjusted = await s.adjust(first, 10**15 + 7)  # the member written by the reservation found
    assert adjusted.rooms == (2 * 10**15 - 7, 9)
    await s.refund(adjusted)
    assert await s.room([big, rpm]) == (3 * 10**15, 10)
    await s.aclose()


async def test_a_reply_that_cannot_be_read_is_a_store_error(
        redis_server: RedisServer, admin: aioredis.Redis, prefix: str, clock: FakeClock) -> None:
    tpm = Window("backend:p/m:tpm", 1000, 60.0)
    s = store(redis_server, prefix, clock)
    assert isinstance(await s.reserve([tpm], 50), Reservation)
    # A corrupted count (another writer, a bad restore): the script answers "nan" for its room.
    await admin.hset(f"{prefix}window-totals", f"{prefix}window:{tpm.key}", "nan")
    for call in (s.reserve([tpm], 1), s.room([tpm])):
        with pytest.raises(StoreError) as caught:
            await call
        assert caught.value.cause == "ValueError"
        assert not s.up
    await s.aclose()
