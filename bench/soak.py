"""Soak test (a script, not a unit test): tens of thousands of requests through a real router
process, streaming and not, with upstream faults injected and clients that hang up early. Every
request must be accounted for (served, or answered with a proper error), and the router's memory
and open descriptors must come back to their baseline.

    python -m bench.soak [--requests 20000] [--concurrency 32] [--chaos 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson

CONFIG = """
[server]
shutdown_delay_s = 0
[routing]
max_queue_s = 10  # as the deploy config: wait out a 1 s rate-limit cooldown rather than 503
[health]
probe_interval_s = 3600
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
  [[providers.models]]
  name = "m"
  capabilities = ["tools"]
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("router did not become ready")


async def one(session: aiohttp.ClientSession, url: str, i: int, rng: random.Random,
              outcomes: Counter[str]) -> None:
    stream = rng.random() < 0.5
    hang_up = rng.random() < 0.05
    body = {"model": "free", "stream": stream,
            "messages": [{"role": "user", "content": f"request {i}"}]}
    try:
        async with session.post(f"{url}/v1/chat/completions", json=body) as r:
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


async def load(url: str, total: int, concurrency: int, seed: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    rng = random.Random(seed)
    queue = iter(range(total))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def worker() -> None:
            for i in queue:
                await one(s, url, i, rng, outcomes)
        await asyncio.gather(*[worker() for _ in range(concurrency)])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chaos", type=float, default=0.05)
    parser.add_argument("--upstreams", type=int, default=3)
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports = [free_port() for _ in range(args.upstreams)]
        for p in ports:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "router.demo.upstream", "--port", str(p),
                 "--chaos", str(args.chaos)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        tmp = Path(tempfile.mkdtemp())
        config = tmp / "soak.toml"
        config.write_text(CONFIG.format(providers="".join(
            PROVIDER.format(i=i, port=p) for i, p in enumerate(ports))))
        port = free_port()
        router = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--config", str(config), "--port", str(port),
             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(router)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(url))
        # Warm-up at full concurrency, so connection pools and caches reach their steady size.
        asyncio.run(load(url, 2000, args.concurrency, seed=0))
        time.sleep(1.0)
        base = (rss_kib(router.pid), fds(router.pid))
        before = asyncio.run(upstream_stats(ports))
        started = time.monotonic()
        outcomes = asyncio.run(load(url, args.requests, args.concurrency, seed=1))
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # let closed connections be reaped
        after = (rss_kib(router.pid), fds(router.pid))
        accounted = sum(outcomes.values())
        upstream = asyncio.run(upstream_stats(ports))
        upstream["requests"] -= before["requests"]
        upstream["injected"].subtract(before["injected"])
        print(f"requests: {args.requests} in {elapsed:.1f} s ({args.requests / elapsed:.0f}/s), "
              f"concurrency {args.concurrency}, upstream fault rate {args.chaos:.0%}")
        faults = sum(upstream["injected"].values())
        print(f"upstream calls: {upstream['requests']}, faults injected: {faults} "
              f"({', '.join(f'{k} {n}' for k, n in upstream['injected'].most_common())})")
        print("client outcomes:")
        for key, n in sorted(outcomes.items(), key=lambda kv: -kv[1]):
            print(f"  {key:<40} {n:>7}")
        print(f"accounted for: {accounted} / {args.requests}; broken: "
              f"{sum(n for k, n in outcomes.items() if k.startswith('BROKEN'))}")
        print(f"router RSS: {base[0] / 1024:.1f} MiB after warm-up -> {after[0] / 1024:.1f} MiB after; "
              f"open descriptors: {base[1]} -> {after[1]}")
        router.send_signal(signal.SIGTERM)
        code = router.wait(timeout=30)
        stderr = router.stderr.read().decode() if router.stderr else ""
        tracebacks = stderr.count("Traceback")
        print(f"router exit code {code}; tracebacks in its log: {tracebacks}")
        if accounted != args.requests or tracebacks or any(k.startswith("BROKEN") for k in outcomes):
            sys.exit(1)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main()
