"""What one budget check costs through each state store, in this process (no router, no HTTP):
the floor of a Redis round trip (PING, through router.state.resp), the check-and-reserve script
over four windows (model and provider, rpm and rpd, as the bench's budget rows configure), and
the same in memory. A local redis-server of our own is started on a free port.

    python -m bench.store_cost [--calls 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench import redis_server
from router.clock import SystemClock
from router.state.memory import MemoryStore
from router.state.redis import RedisStore
from router.state.store import Window

NEVER_OUT = 1_000_000_000
WINDOWS = (Window("backend:bench/m0:rpm", NEVER_OUT, 60.5),
           Window("backend:bench/m0:rpd", NEVER_OUT, 86400.5),
           Window("provider:bench:rpm", NEVER_OUT, 60.5),
           Window("provider:bench:rpd", NEVER_OUT, 86400.5))

Call = Callable[[], Awaitable[object]]


async def measure(calls: int, rounds: int, subjects: Sequence[tuple[str, Call]]) -> None:
    for _, call in subjects:  # warm up: connections, scripts loaded, caches filled
        for _ in range(300):
            await call()
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in subjects}
    for _ in range(rounds):  # interleaved, so drift on a shared machine spreads over all
        for name, call in subjects:
            started_cpu, latencies = time.process_time(), []
            for _ in range(calls):
                started = time.perf_counter()
                await call()
                latencies.append(time.perf_counter() - started)
            latencies.sort()
            figures[name].append((latencies[len(latencies) // 2] * 1e6,
                                  latencies[int(len(latencies) * 0.99)] * 1e6,
                                  (time.process_time() - started_cpu) / calls * 1e6))
    print(f"{'call':<36} {'p50 us':>8} {'p99 us':>8} {'CPU us':>8}   (medians of {rounds} rounds "
          f"of {calls} sequential calls)")
    for name, rows in figures.items():
        p50, p99, cpu = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{name:<36} {p50:8.0f} {p99:8.0f} {cpu:8.0f}")


async def run(calls: int, rounds: int) -> None:
    binary = redis_server.find_binary()
    if binary is None:
        raise SystemExit("redis-server is not on PATH (Debian: apt-get install redis-server)")
    clock = SystemClock()
    memory = MemoryStore(clock, "bench")
    with tempfile.TemporaryDirectory() as folder, redis_server.running(binary, Path(folder)) as server:
        redis = RedisStore(server.url, "bench-cost:", 1.0, clock, "bench")
        await measure(calls, rounds, (
            ("PING (the floor)", redis.ping),
            ("RedisStore.reserve, 4 windows", lambda: redis.reserve(WINDOWS)),
            ("MemoryStore.reserve, 4 windows", lambda: memory.reserve(WINDOWS)),
        ))
        await redis.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(run(args.calls, args.rounds))


if __name__ == "__main__":
    main()
