"""The fallback under a real redis-server that goes away: every call still answers (from local
state, each budget at this replica's share), the outage is logged once and shown by the
metrics, and when the store comes back what was done meanwhile is replayed into it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from bench.redis_server import RedisServer, running
from router.metrics import Metrics
from router.state.backends import safe_address
from router.state.fallback import FallbackStore
from router.state.memory import MemoryStore
from router.state.redis import RedisStore
from router.state.store import Cooldown, Full, Report, Reservation, Window
from tests.clock import FakeClock

RPM = Window("backend:p/m:rpm", 10, 60.0)
TIMEOUT_S = 0.2


@pytest.fixture
def server(redis_binary: Path, tmp_path: Path) -> Iterator[RedisServer]:
    # Its own server: these tests stop and freeze it.
    with running(redis_binary, tmp_path, password="pw-Secret-1") as started:
        yield started


class Replica:
    def __init__(self, server: RedisServer, prefix: str, clock: FakeClock, name: str) -> None:
        self.metrics = Metrics(CollectorRegistry())
        self.primary = RedisStore(server.url, prefix, TIMEOUT_S, clock, name)
        self.store = FallbackStore(self.primary, MemoryStore(clock, name), self.metrics, clock,
                                   safe_address(server.url))

    def up_gauge(self) -> float:
        return self.metrics.registry.get_sample_value("freerouter_state_store_up") or 0.0

    def errors(self, op: str) -> float:
        return self.metrics.registry.get_sample_value(
            "freerouter_state_store_errors_total", {"op": op}) or 0.0

    async def grants(self, n: int, window: Window = RPM) -> int:
        results = [await self.store.reserve([window]) for _ in range(n)]
        return sum(isinstance(r, Reservation) for r in results)


@pytest.fixture
async def replicas(server: RedisServer, clock: FakeClock) -> AsyncIterator[list[Replica]]:
    prefix = f"fb-{uuid.uuid4().hex[:8]}:"
    made = [Replica(server, prefix, clock, f"r{i}") for i in range(3)]
    for replica in made:
        await replica.store.heartbeat()
    for replica in made:
        await replica.store.heartbeat()  # now every one has seen the three
    yield made
    for replica in made:
        await replica.store.aclose()


async def test_while_the_store_answers_it_is_shared(replicas: list[Replica]) -> None:
    one, two, _ = replicas
    assert await one.grants(6) == 6
    assert await two.grants(6) == 4  # the same ten for everyone
    assert one.up_gauge() == 1.0 and one.store.up


async def test_a_stopped_store_degrades_to_each_replicas_share(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one = replicas[0]
    server.stop()
    with capture_logs() as lines:
        started = time.monotonic()
        grants = [await r.grants(10) for r in replicas]
        elapsed = time.monotonic() - started
    # 10 split over three replicas: 4, 3, 3 (by id order), and never more in all.
    assert grants == [4, 3, 3]
    assert elapsed < 5.0  # one failed call each, then local state at once
    assert not one.store.up and one.up_gauge() == 0.0
    assert one.errors("reserve") == 1.0  # only the call that met the outage
    down = [line for line in lines if line["event"] == "state_store_down"]
    assert len(down) == 3  # once per replica, not per request
    assert all("pw-Secret-1" not in repr(line) for line in lines)
    assert down[0]["store"] == f"redis://127.0.0.1:{server.port}/0"
    # The stopped store refused the connection: the class names it, its text never shows.
    assert down[0]["error"] == "ConnectionRefusedError" and down[0]["op"] == "reserve"


async def test_what_a_replica_spent_before_the_outage_counts_in_its_share(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one = replicas[0]
    assert await one.grants(3) == 3  # through the store, and recorded locally too
    server.stop()
    assert await one.grants(10) == 1  # its share is 4: three are spent already


async def test_the_store_back_gets_what_was_done_meanwhile(
    server: RedisServer, replicas: list[Replica], clock: FakeClock
) -> None:
    one, two, _ = replicas
    assert await one.grants(2) == 2
    server.stop()
    assert await one.grants(10) == 2  # its share, 4, less the 2 it had spent
    now = clock.wall()
    await one.store.set_cooldown(Cooldown("backend:wait:p/m", now + 300, "rate_limited"))
    await one.store.put_response("resp_1", b"kept through the outage", 3600)
    assert await one.store.get_response("resp_1") == b"kept through the outage"
    server.start()  # a fresh, empty Redis: its id changed
    with capture_logs() as lines:
        await one.store.step()
    assert one.store.up and one.up_gauge() == 1.0
    (up,) = [line for line in lines if line["event"] == "state_store_up"]
    # Its four grants (two before the outage, two during it), a cooldown, a response.
    assert up["replayed"] == 6
    # Shared again, with every grant still in the window: 10 - 4 = 6 left for everyone.
    await two.store.step()
    assert await two.grants(10) == 6
    assert [c.key for c in await two.store.cooldowns()] == ["backend:wait:p/m"]
    assert await two.store.get_response("resp_1") == b"kept through the outage"


async def test_a_frozen_store_keeps_every_call_bounded(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one = replicas[0]
    server.freeze()
    try:
        started = time.monotonic()
        assert isinstance(await one.store.reserve([RPM]), Reservation)
        assert await one.store.cooldowns() == ()
        assert await one.store.get_response("x") is None
        await one.store.put_response("y", b"1", 60)
        await one.store.step()  # the probe times out too
        assert time.monotonic() - started < TIMEOUT_S * 2 + 2.0  # two timeouts, loaded machine
        assert not one.store.up
    finally:
        server.thaw()
    await one.store.step()
    assert one.store.up


async def test_a_full_window_is_full_locally_too(server: RedisServer, replicas: list[Replica]) -> None:
    one = replicas[0]
    server.stop()
    assert await one.grants(4) == 4
    full = await one.store.reserve([RPM])
    assert isinstance(full, Full) and full.retry_in_s > 0
    assert await one.store.room([RPM]) == (0,)


async def test_a_store_that_kept_its_data_gets_only_what_it_missed(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one, two = replicas[0], replicas[1]
    assert await one.grants(2) == 2
    server.freeze()  # unreachable, data intact (a partition)
    try:
        assert await one.grants(10) == 2
    finally:
        server.thaw()
    await one.store.step()
    assert one.store.up
    assert await two.grants(10) == 6  # 2 before, 2 during: nothing counted twice


async def test_a_store_restarted_between_two_calls_is_rebuilt(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one, two = replicas[0], replicas[1]
    assert await one.grants(3) == 3
    server.stop()
    server.start()
    with capture_logs() as lines:
        await one.store.step()
    assert [line["event"] for line in lines] == ["state_store_reset"]
    assert one.store.up
    await two.store.step()
    assert await two.grants(10) == 7


async def test_a_long_backlog_is_replayed_in_batches(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one, two = replicas[0], replicas[1]
    big = Window("backend:p/big:rpm", 3000, 60.0)
    server.freeze()
    try:
        assert await one.grants(450, big) == 450  # its share is 1000
    finally:
        server.thaw()
    await one.store.step()
    assert one.store.up
    assert await two.store.room([big]) == (3000 - 450,)


REQUESTS = Window("backend:p/t:rpm", 10, 60.0, per_request=True)
TOKENS = Window("backend:p/t:tpm", 900, 60.0)


async def test_token_estimates_settled_during_an_outage_reach_the_store_back(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one, two = replicas[0], replicas[1]
    before = await one.store.reserve([REQUESTS, TOKENS], 200)
    assert isinstance(before, Reservation)
    server.freeze()  # a partition: the store keeps its data
    try:
        during = await one.store.reserve([REQUESTS, TOKENS], 100)  # its share: 300 tokens
        assert isinstance(during, Reservation)
        await one.store.adjust(before, 50)  # the answer used less than its estimate
        await one.store.adjust(during, 0)  # a failed attempt gives its tokens back
    finally:
        server.thaw()
    await one.store.step()
    assert one.store.up
    # Two requests, 50 tokens: the estimate replaced, the failed attempt's tokens given back.
    assert await two.store.room([REQUESTS, TOKENS]) == (8, 850)


async def test_a_restarted_store_is_told_each_windows_own_count(
    server: RedisServer, replicas: list[Replica]
) -> None:
    one, two = replicas[0], replicas[1]
    granted = await one.store.reserve([REQUESTS, TOKENS], 300)
    assert isinstance(granted, Reservation)
    server.stop()
    server.start()  # empty: rebuilt from local state
    await one.store.step()
    assert await two.store.room([REQUESTS, TOKENS]) == (9, 600)
    await two.store.refund(granted)
    assert await one.store.room([REQUESTS, TOKENS]) == (10, 900)


async def test_provider_counts_are_kept_locally_while_the_store_is_away(
    server: RedisServer, replicas: list[Replica], clock: FakeClock
) -> None:
    one, two, _ = replicas
    count = Report("backend:p/m:tpm", 100, clock.wall() + 30, clock.wall())
    await one.store.put_reports([count])
    assert [r.remaining for r in await two.store.reports()] == [100]  # shared
    server.stop()
    later = Report("backend:p/m:tpm", 40, clock.wall() + 30, clock.wall() + 1)
    await one.store.put_reports([later])  # never raises: kept here
    assert [r.remaining for r in await one.store.reports()] == [40]
    assert one.errors("put_reports") == 1.0 and not one.store.up
    assert await two.store.reports() == ()  # its own local state holds none
