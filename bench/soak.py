"""Soak test (a script, not a unit test): tens of thousands of requests through real router
processes, streaming and not, with upstream faults injected and clients that hang up early. Every
request must be accounted for (served, or answered with a proper error), and the routers' memory
and open descriptors must come back to their baseline.

    python -m bench.soak [--requests 20000] [--concurrency 32] [--chaos 0.05]
    python -m bench.soak --replicas 3 --redis auto --outage 10 --requests 50000

With `--replicas N` the clients spread over N routers; with `--redis` they share one Redis for
budgets (every provider gets an rpm budget that never runs out, and every client key an
rpm limit, so each request makes its store calls) and cooldowns, and `--outage S` kills that
Redis for S seconds once half the requests are done. Outcomes are counted by phase (before,
during and after the outage), so a 5xx caused by the store's absence would show."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import redis_server
from bench.processes import free_port

CONFIG = """
[server]
shutdown_delay_s = 0
{client_limits}
[routing]
max_queue_s = 10  # as the deploy config: wait out a 1 s rate-limit cooldown rather than 503
[health]
probe_interval_s = 3600
{state}
{providers}
[[routes]]
name = "free"
strategy = "random"
max_attempts = 3
"""
PROVIDER = """
[[providers]]
name = "up{i}"
api = "openai"
base_url = "http://127.0.0.1:{port}/v1"
timeout_s = 5
{budget}
  [[providers.models]]
  name = "m"
  capabilities = ["tools"]
"""
NEVER_OUT = 1_000_000_000
CLIENT = "soak"
SAMPLE_S = 2.0
CLIENT_KEY = "sk-soak-client"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            try:
                async with s.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit(f"router at {url} did not become ready")


@dataclass
class Outage:
    """Kills the Redis once `at` requests are done, for `seconds`; phases the outcomes."""

    server: redis_server.RedisServer | None
    at: int
    seconds: float
    phase: str = "before"
    task: asyncio.Task[None] | None = None
    took: dict[str, float] = field(default_factory=dict)

    def tick(self, done: int) -> None:
        if self.server is not None and self.seconds > 0 and done >= self.at and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.phase = "during"
        started = time.monotonic()
        await asyncio.sleep(self.seconds)
        await asyncio.to_thread(self.server.start)
        self.took["down_s"] = time.monotonic() - started
        self.phase = "after"


async def one(session: aiohttp.ClientSession, url: str, i: int, rng: random.Random,
              outcomes: Counter[str], headers: dict[str, str]) -> None:
    stream = rng.random() < 0.5
    hang_up = rng.random() < 0.05
    body = {"model": "free", "stream": stream,
            "messages": [{"role": "user", "content": f"request {i}"}]}
    try:
        async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
            if hang_up:
                await r.content.read(10)
                r.close()  # the client leaves early
                outcomes["client hung up"] += 1
                return
            raw = await r.read()
            if r.status == 200 and not stream:
                ok = orjson.loads(raw)["choices"][0]["message"]
                outcomes["served" if ok else "BROKEN"] += 1
            elif r.status == 200:
                frames = [f for f in raw.split(b"\n\n") if f]
                if frames and frames[-1] == b"data: [DONE]":
                    key = "stream ended with error event" if b'"error"' in frames[-2] else "served"
                    outcomes[key] += 1
                else:
                    outcomes["BROKEN stream"] += 1
            else:
                err = orjson.loads(raw)["error"]
                outcomes[f"error {r.status} {err['type']}" if err.get("message") else "BROKEN"] += 1
    except (aiohttp.ClientError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        outcomes[f"BROKEN {type(exc).__name__}"] += 1


async def load(urls: list[str], total: int, concurrency: int, seed: int, headers: dict[str, str],
               outage: Outage | None = None) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    rng = random.Random(seed)
    queue = iter(range(total))
    done = 0
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def worker() -> None:
            nonlocal done
            for i in queue:
                phase = outage.phase if outage is not None else "all"
                counted: Counter[str] = Counter()
                await one(s, urls[i % len(urls)], i, rng, counted, headers)
                for key, n in counted.items():
                    outcomes[f"{phase}: {key}" if outage is not None else key] += n
                done += 1
                if outage is not None:
                    outage.tick(done)
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        if outage is not None and outage.task is not None:
            await outage.task
    return outcomes


async def upstream_stats(ports: list[int]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    requests = 0
    async with aiohttp.ClientSession() as s:
        for port in ports:
            async with s.get(f"http://127.0.0.1:{port}/__stats") as r:
                stats = await r.json()
            requests += stats["requests"]
            total.update(stats["injected"])
    return {"requests": requests, "injected": total}


async def backend_rows(urls: list[str], headers: dict[str, str]) -> list[str]:
    """What each router says of each backend at the end: state, cooldown, budget left."""
    lines = []
    async with aiohttp.ClientSession() as s:
        for url in urls:
            async with s.get(f"{url}/status", headers=headers) as r:
                for b in (await r.json())["backends"]:
                    lines.append(f"{url} {b['id']}: {b['state']} cooldown {b['cooldown_s']} s "
                                 f"({b['cooldown_reason']}), budget {b['budget']}")
    return lines


async def store_metrics(urls: list[str]) -> list[str]:
    """Each router's freerouter_state_store_up and error counts, as its /metrics shows them."""
    lines = []
    async with aiohttp.ClientSession() as s:
        for url in urls:
            async with s.get(f"{url}/metrics") as r:
                text = await r.text()
            up = [ln for ln in text.splitlines() if ln.startswith("freerouter_state_store_up ")]
            errors = sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
                         if ln.startswith("freerouter_state_store_errors_total{"))
            lines.append(f"{url}: {up[0] if up else 'no store_up'}, store errors {errors:.0f}")
    return lines


@contextlib.contextmanager
def maybe_redis(wanted: str, workdir: Path) -> Iterator[redis_server.RedisServer | None]:
    if wanted == "none":
        yield None
        return
    binary = redis_server.find_binary()
    if binary is None:
        raise SystemExit("--redis auto needs redis-server on PATH (apt-get install redis-server)")
    with redis_server.running(binary, workdir / "redis") as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chaos", type=float, default=0.05)
    parser.add_argument("--upstreams", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--redis", choices=("none", "auto"), default="none",
                        help="auto: the replicas share a redis-server of our own")
    parser.add_argument("--outage", type=float, default=0.0,
                        help="seconds the Redis is killed for, once half the requests are done")
    parser.add_argument("--budgets", action="store_true",
                        help="budgets and client-key limits that never run out, with the memory "
                             "store too (with --redis they are always on)")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after the run before measuring memory and "
                             "descriptors again (65: the minute windows and idle connections "
                             "are gone)")
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp())
    with maybe_redis(args.redis, tmp) as store:
        try:
            run(args, store, tmp, procs)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()


def run(args: argparse.Namespace, store: redis_server.RedisServer | None, tmp: Path,
        procs: list[subprocess.Popen[bytes]]) -> None:
    ports = [free_port() for _ in range(args.upstreams)]
    for p in ports:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "router.demo.upstream", "--port", str(p),
             "--chaos", str(args.chaos)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    shared = store is not None
    budgets = shared or args.budgets
    config = tmp / "soak.toml"
    config.write_text(CONFIG.format(
        client_limits=(f'client_keys_env = "SOAK_CLIENT_KEYS"\nclient_rpm = {NEVER_OUT}'
                       if budgets else ""),
        state='[state]\nbackend = "redis"\ntimeout_ms = 50\n' if shared else "",
        providers="".join(PROVIDER.format(i=i, port=p, budget=f"rpm = {NEVER_OUT}" if budgets else "")
                          for i, p in enumerate(ports))))
    env = {**os.environ, "SOAK_CLIENT_KEYS": f"{CLIENT}:{CLIENT_KEY}",
           "FREEROUTER_REDIS_URL": store.url if store is not None else ""}
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"} if budgets else {}
    routers = []
    for n in range(args.replicas):
        port = free_port()
        with (tmp / f"router{n}.log").open("wb") as out:  # the JSON log lines and any traceback
            router = subprocess.Popen(
                [sys.executable, "-m", "router", "serve", "--config", str(config), "--port",
                 str(port), "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT, env=env)
        procs.append(router)
        routers.append((router, f"http://127.0.0.1:{port}", tmp / f"router{n}.log"))
    urls = [url for _, url, _ in routers]
    for url in urls:
        asyncio.run(wait_ready(url))
    # Warm-up at full concurrency, so connection pools and caches reach their steady size.
    asyncio.run(load(urls, 2000, args.concurrency, 0, headers))
    time.sleep(1.0)
    base = [(rss_kib(r.pid), fds(r.pid)) for r, _, _ in routers]
    before = asyncio.run(upstream_stats(ports))
    outage = Outage(store, args.requests // 2, args.outage) if store is not None else None
    samples: list[list[int]] = []  # every router's RSS, every SAMPLE_S while the load runs
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(SAMPLE_S):
            samples.append([rss_kib(r.pid) for r, _, _ in routers])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    outcomes = asyncio.run(load(urls, args.requests, args.concurrency, 1, headers, outage))
    elapsed = time.monotonic() - started
    stop_sampling.set()
    sampler.join()
    rows = asyncio.run(backend_rows(urls, headers))
    time.sleep(2.0)  # let closed connections be reaped, the routers find the store again
    after = [(rss_kib(r.pid), fds(r.pid)) for r, _, _ in routers]
    settled = None
    if args.settle > 0:
        time.sleep(args.settle)
        settled = [(rss_kib(r.pid), fds(r.pid)) for r, _, _ in routers]
    if samples:  # a leak keeps growing; a working set levels off
        quarters = [samples[min(len(samples) - 1, len(samples) * q // 4)] for q in (1, 2, 3, 4)]
        print("router RSS (MiB) at 1/4, 1/2, 3/4 and the end of the run: " + "; ".join(
            ", ".join(f"{q[n] / 1024:.1f}" for q in quarters) for n in range(len(routers))))
    accounted = sum(outcomes.values())
    upstream = asyncio.run(upstream_stats(ports))
    upstream["requests"] -= before["requests"]
    upstream["injected"].subtract(before["injected"])
    print(f"requests: {args.requests} in {elapsed:.1f} s ({args.requests / elapsed:.0f}/s), "
          f"concurrency {args.concurrency}, {args.replicas} router(s), upstream fault rate "
          f"{args.chaos:.0%}, state store: {'one Redis' if shared else 'memory'}")
    if outage is not None and outage.took:
        print(f"Redis killed after {outage.at} requests, back after {outage.took['down_s']:.1f} s")
    faults = sum(upstream["injected"].values())
    print(f"upstream calls: {upstream['requests']}, faults injected: {faults} "
          f"({', '.join(f'{k} {n}' for k, n in upstream['injected'].most_common())})")
    print("client outcomes:")
    for key, n in sorted(outcomes.items()):
        print(f"  {key:<48} {n:>7}")
    broken = sum(n for k, n in outcomes.items() if "BROKEN" in k)
    print(f"accounted for: {accounted} / {args.requests}; broken: {broken}")
    for n, ((_, url, _), (rss0, fd0), (rss1, fd1)) in enumerate(
            zip(routers, base, after, strict=True)):
        line = (f"router {url}: RSS {rss0 / 1024:.1f} MiB after warm-up -> {rss1 / 1024:.1f} "
                f"MiB after; open descriptors: {fd0} -> {fd1}")
        if settled is not None:
            line += (f"; {args.settle:.0f} s later: {settled[n][0] / 1024:.1f} MiB, "
                     f"{settled[n][1]} descriptors")
        print(line)
    for line in rows:
        print(line)
    if shared:
        for line in asyncio.run(store_metrics(urls)):
            print(line)
    tracebacks = 0
    for router, url, log in routers:
        router.send_signal(signal.SIGTERM)
        code = router.wait(timeout=30)
        text = log.read_text(errors="replace")
        tracebacks += text.count("Traceback")
        # At log level warning the store's return (an info line) is not logged; its outages are.
        print(f"router {url}: exit code {code}; store outages logged: "
              f"{text.count(chr(34) + 'state_store_down' + chr(34))}")
    print(f"tracebacks in the routers' logs: {tracebacks}")
    if accounted != args.requests or tracebacks or broken:
        sys.exit(1)


if __name__ == "__main__":
    main()
