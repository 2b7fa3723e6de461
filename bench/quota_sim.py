"""Quota-yield simulation: how much of a pool of free quotas the router turns into answers.

    python -m bench.quota_sim [--seed N] [--hours H] [--demand 0.9] [--scenario requests|tokens]

A simulated hour (discrete events on a fake clock: nothing sleeps, it runs in about a second)
of Poisson client demand at 90% of the combined rpm quota of six fake backends over five
providers, one flaky (20% of answers are 500s) and one slow (6 s to first byte). Each fake
upstream enforces its limits like a provider does: a sliding minute counted when a request
arrives (after a random network delay), answering 429 with Retry-After when over, per model and,
for one provider, per account. One provider's limit is not in the config at all: it only says
what is left in x-ratelimit-* headers of its answers.

Routers compared, all with failover to up to 3 distinct backends per request:
- freerouter: the real HealthTracker and Budgets (configured rpm per model and per provider,
  quota headers, cooldowns, ejection, half-open), with the `random` and `weighted` strategies;
  when every backend is over budget or cooling it answers 503 with Retry-After.
- uniform: plain uniform random choice, no budgets, no health.

Clients behave like the official SDKs (max_retries=2): a 429/5xx answer is retried after its
Retry-After when it has one (up to 60 s), else after 0.5 s x 2^n with jitter. "served" counts
requests answered within those retries; "first call" counts those answered on the first call.

The `tokens` scenario (bench.quota_tokens) runs the same over token-limited free tiers with a mix
of small chat requests and Claude-Code-sized ones; both scenarios run unless one is named."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import heapq
import io
import itertools
import math
import random
import tempfile
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench import redis_server
from router import logs
from router.budget import Budgets, Limits
from router.cooldowns import SYNC_S, SharedCooldowns
from router.health import HealthTracker
from router.metrics import Metrics
from router.state.backends import safe_address
from router.state.fallback import FallbackStore
from router.state.memory import MemoryStore
from router.state.redis import RedisStore
from router.state.store import StateStore
from router.types import Api, Backend, FailureReason, Needs, Outcome, Strategy
from router.upstream import Quota
from strategies.uniform import UniformRandom
from strategies.weighted import Weighted

MINUTE_S = 60.0
MAX_ATTEMPTS = 3  # the route's max_attempts
SDK_MAX_RETRIES = 2
SDK_MAX_RETRY_AFTER_S = 60.0
NET_DELAY_S = (0.02, 0.15)  # one-way network delay before the provider counts a request
EPOCH0 = 1_800_000_000.0
MIN_WAKE_S = 0.05
NEEDS = Needs(capabilities=frozenset(), prompt_tokens=20)


@dataclass(frozen=True, slots=True)
class Spec:
    """One fake backend and the limits its provider really enforces."""

    provider: str
    model: str
    rpm: int  # the real per-model limit
    latency_s: float
    failure_rate: float = 0.0
    configured: bool = True  # is its rpm in the router's config?
    reports_quota: bool = False  # does it send x-ratelimit-remaining/reset headers?

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"


SPECS: tuple[Spec, ...] = (
    Spec("steady", "m", rpm=30, latency_s=0.5),
    Spec("big", "a", rpm=30, latency_s=0.8),
    Spec("big", "b", rpm=30, latency_s=0.8),
    Spec("flaky", "m", rpm=30, latency_s=0.6, failure_rate=0.2),
    Spec("slow", "m", rpm=20, latency_s=6.0),
    Spec("hinted", "m", rpm=10, latency_s=0.4, configured=False, reports_quota=True),
)
# Account limits, as the provider enforces them and as the config states them.
PROVIDER_RPM: dict[str, int] = {"big": 40}


def combined_rpm() -> float:
    per_provider: dict[str, int] = {}
    for s in SPECS:
        per_provider[s.provider] = per_provider.get(s.provider, 0) + s.rpm
    return float(sum(min(v, PROVIDER_RPM.get(p, v)) for p, v in per_provider.items()))


# -- simulated time ----------------------------------------------------------------------------


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH0 + self.now


Action = Callable[[], Awaitable[None] | None]


class Events:
    """Discrete events in time order. An action may be a coroutine (a router asking its state
    store, a real Redis included): simulated time stands still while it runs."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Action]] = []
        self._seq = itertools.count()

    def at(self, when: float, action: Action) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action))

    async def run(self) -> None:
        while self._heap:
            when, _, action = heapq.heappop(self._heap)
            self._clock.now = when
            pending = action()
            if pending is not None:
                await pending


# -- fake providers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    latency_s: float
    status: int = 200
    retry_after_s: float | None = None
    provider_wide: bool = False
    # (limit, remaining, reset in s) as x-ratelimit-* headers say it; a duration is read
    # against the clock of whoever reads the answer.
    reported: tuple[int, int, float] | None = None

    def quota(self, wall: float) -> Quota | None:
        if self.reported is None:
            return None
        limit, remaining, reset_in = self.reported
        return Quota(requests_limit=limit, requests_remaining=remaining,
                     requests_reset_epoch=wall + round(reset_in, 2))


class SlidingMinute:
    """Arrival instants (not necessarily in order: network delays differ) of the last minute."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._arrivals: list[float] = []

    def _in_window(self, at: float) -> list[float]:
        lo = bisect.bisect_right(self._arrivals, at - MINUTE_S)
        del self._arrivals[:lo]
        return self._arrivals

    def full(self, at: float) -> bool:
        return len(self._in_window(at)) >= self.limit

    def add(self, at: float) -> None:
        bisect.insort(self._arrivals, at)

    def left(self, at: float) -> int:
        return max(self.limit - len(self._in_window(at)), 0)

    def full_in(self, at: float) -> float:
        arrivals = self._in_window(at)
        return arrivals[-1] + MINUTE_S - at if arrivals else 0.0

    def frees_in(self, at: float) -> float:
        arrivals = self._in_window(at)
        return arrivals[0] + MINUTE_S - at if arrivals else 0.0


class Upstream:
    def __init__(self, spec: Spec, account: SlidingMinute | None, rng: random.Random) -> None:
        self.spec = spec
        self._minute = SlidingMinute(spec.rpm)
        self._account = account
        self._rng = rng
        self.calls = 0
        self.rate_limited = 0
        self.errors = 0

    def call(self, now: float) -> Reply:
        self.calls += 1
        arrival = now + self._rng.uniform(*NET_DELAY_S)
        net = 2 * (arrival - now)
        for minute, wide in ((self._minute, False), (self._account, True)):
            if minute is not None and minute.full(arrival):
                self.rate_limited += 1
                return Reply(False, net, 429, retry_after_s=math.ceil(minute.frees_in(arrival)),
                             provider_wide=wide)
        self._minute.add(arrival)
        if self._account is not None:
            self._account.add(arrival)
        if self._rng.random() < self.spec.failure_rate:
            self.errors += 1
            return Reply(False, net + 0.1, 500)
        latency = net + self.spec.latency_s * self._rng.uniform(0.7, 1.3)
        reported = None
        if self.spec.reports_quota:
            # OpenAI's and Groq's meaning of reset: until the limit is back to its initial state.
            reported = (self.spec.rpm, self._minute.left(arrival), self._minute.full_in(arrival))
        return Reply(True, latency, reported=reported)


# -- routers -----------------------------------------------------------------------------------

Answer = Callable[[int, float | None], None]  # (HTTP status, Retry-After)



@dataclass(slots=True)
class Request:
    answer: Answer
    deadline: float = math.inf  # queued no later than this
    failed: set[str] = field(default_factory=set)  # backends that failed it upstream
    skipped: set[str] = field(default_factory=set)  # backends over budget when it looked
    sent: int = 0

    @property
    def tried(self) -> set[str]:
        return self.failed | self.skipped


class Router(Protocol):
    def handle(self, answer: Answer) -> Awaitable[None] | None: ...


class Freerouter:
    """The proxy's candidate loop (router/proxy.py) over the real HealthTracker and Budgets.
    With `queue_s` > 0, a request that finds every backend over budget or cooling waits, first
    come first served, up to that long for the soonest recovery instead of an immediate 503
    (not what the proxy does today: a measured proposal)."""

    def __init__(self, sim: Sim, strategy: Strategy, queue_s: float = 0.0,
                 store: StateStore | None = None) -> None:
        self._sim = sim
        self._strategy = strategy
        self._queue_s = queue_s
        limits = {p: Limits(rpm=rpm) for p, rpm in PROVIDER_RPM.items()}
        self.store = store if store is not None else MemoryStore(sim.clock)
        self.budgets = Budgets(self.store, sim.clock, provider_limits=lambda p: limits.get(p, Limits()))
        # A shared store shares cooldowns too, as router.app wires it.
        self.cooldowns = SharedCooldowns(self.store, sim.clock) if self.store.shared else None
        self.health = HealthTracker(
            sim.clock, on_cooling=self.cooldowns.publish if self.cooldowns else None)
        self.budget_skips = 0
        self._queue: deque[Request] = deque()
        self._wake_at = math.inf

    async def start(self) -> None:
        await self.store.heartbeat()
        if self.cooldowns is not None:
            self._sim.events.at(self._sim.clock.now + SYNC_S, self._sync)

    async def _sync(self) -> None:
        """The background cooldown sync of router.cooldowns, every SYNC_S of simulated time."""
        assert self.cooldowns is not None
        await self.cooldowns.step(self.health)
        if self._sim.clock.now < self._sim.end:
            self._sim.events.at(self._sim.clock.now + SYNC_S, self._sync)

    async def handle(self, answer: Answer) -> None:
        req = Request(answer, deadline=self._sim.clock.now + self._queue_s)
        if self._queue:
            self._queue.append(req)  # first come, first served
        else:
            await self._next(req)

    def _soonest(self, backends: Sequence[Backend]) -> float:
        return min((max(self.health.wait_s(b), self.budgets.refill_in(b)) for b in backends),
                   default=0.0)

    async def _next(self, req: Request) -> None:
        backends = self._sim.backends
        while req.sent < MAX_ATTEMPTS:
            candidates = self.health.candidates(backends, exclude=req.tried)
            if not candidates:
                break
            backend = self._strategy.pick(candidates, NEEDS).backend
            if await self.budgets.reserve(backend) is None:
                req.skipped.add(backend.id)
                self.budget_skips += 1
                continue
            req.sent += 1
            self.health.begin(backend)
            self._send(req, backend)
            return
        left = [b for b in backends if b.id not in req.failed]
        wait = self._soonest(left)
        if left and req.sent < MAX_ATTEMPTS and self._sim.clock.now + wait <= req.deadline:
            req.skipped.clear()
            self._queue.append(req)
            # Never a zero wait: what kept it out now (a trial under way) would at once again.
            self._wake(self._sim.clock.now + max(wait, MIN_WAKE_S))
        elif req.failed:
            req.answer(502, None)
        else:
            req.answer(503, wait)

    def _send(self, req: Request, backend: Backend) -> None:
        reply = self._sim.upstreams[backend.id].call(self._sim.clock.now)
        self._sim.events.at(self._sim.clock.now + reply.latency_s,
                            lambda: self._done(req, backend, reply))

    def _wake(self, when: float) -> None:
        if when < self._wake_at:
            self._wake_at = when
            self._sim.events.at(when, self._drain)

    async def _drain(self) -> None:
        if self._sim.clock.now < self._wake_at:
            return  # superseded by an earlier wake-up
        self._wake_at = math.inf
        now = self._sim.clock.now
        for req in [r for r in self._queue if r.deadline < now]:
            self._queue.remove(req)
            req.answer(503, self._soonest(self._sim.backends))
        while self._queue:
            head = self._queue[0]
            wait = self._soonest([b for b in self._sim.backends if b.id not in head.failed])
            if wait > 0:
                self._wake(now + wait)
                return
            self._queue.popleft()
            await self._next(head)
            if self._queue and self._queue[-1] is head:
                return  # it could not be sent after all: its own wake-up is scheduled

    async def _done(self, req: Request, backend: Backend, reply: Reply) -> None:
        if reply.ok:
            self.health.record(Outcome(backend.id, ok=True, latency_s=reply.latency_s),
                               backend.provider)
            quota = reply.quota(self._sim.clock.wall())
            if quota is not None:
                self.budgets.observe(backend.id, quota, reply.latency_s)
            self.health.end(backend)
            req.answer(200, None)
            return
        self.health.end(backend)
        reason = FailureReason.RATE_LIMITED if reply.status == 429 else FailureReason.SERVER_ERROR
        self.health.record(Outcome(backend.id, ok=False, reason=reason,
                                   retry_after_s=reply.retry_after_s,
                                   provider_wide=reply.provider_wide), backend.provider)
        if self.cooldowns is not None:  # router.cooldowns writes a new cooldown at once
            await self.cooldowns.step(self.health)
        req.failed.add(backend.id)
        await self._next(req)


class Replicated:
    """Several freerouter replicas behind a round-robin load balancer, each with its own state
    store: separate memory stores (each replica believes it has every quota to itself), or
    stores on one Redis (the quotas are shared)."""

    def __init__(self, replicas: Sequence[Freerouter]) -> None:
        self._replicas = replicas
        self._turn = itertools.cycle(replicas)

    @property
    def budget_skips(self) -> int:
        return sum(r.budget_skips for r in self._replicas)

    async def start(self) -> None:
        for replica in self._replicas:
            await replica.start()

    def handle(self, answer: Answer) -> Awaitable[None]:
        return next(self._turn).handle(answer)

    async def aclose(self) -> None:
        for replica in self._replicas:
            await replica.store.aclose()


class UniformNoBudgets:
    """Plain uniform random choice with failover; no budgets, no health."""

    def __init__(self, sim: Sim) -> None:
        self._sim = sim
        self.budget_skips = 0

    def handle(self, answer: Answer) -> None:
        self._next(Request(answer))

    def _next(self, req: Request) -> None:
        left = [b for b in self._sim.backends if b.id not in req.failed]
        if req.sent >= MAX_ATTEMPTS or not left:
            req.answer(502, None)
            return
        backend = left[self._sim.rng.randrange(len(left))]
        req.sent += 1
        reply = self._sim.upstreams[backend.id].call(self._sim.clock.now)

        def done() -> None:
            if reply.ok:
                req.answer(200, None)
            else:
                req.failed.add(backend.id)
                self._next(req)

        self._sim.events.at(self._sim.clock.now + reply.latency_s, done)


# -- the simulation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    requests: int
    served: int
    served_first_call: int
    router_calls: int
    upstream_calls: int
    upstream_429: int
    upstream_5xx: int
    budget_skips: int

    @property
    def served_share(self) -> float:
        return self.served / self.requests

    @property
    def share_429(self) -> float:
        return self.upstream_429 / self.upstream_calls if self.upstream_calls else 0.0


class Sim:
    def __init__(self, seed: int, hours: float) -> None:
        self.end = hours * 3600.0
        self.rng = random.Random(seed)
        self.clock = SimClock()
        self.events = Events(self.clock)
        accounts = {p: SlidingMinute(rpm) for p, rpm in PROVIDER_RPM.items()}
        self.backends = [
            Backend(id=s.id, provider=s.provider, model=s.model, api=Api.OPENAI,
                    capabilities=frozenset(), context_length=32768,
                    rpm=s.rpm if s.configured else None)
            for s in SPECS
        ]
        self.upstreams = {s.id: Upstream(s, accounts.get(s.provider), random.Random(self.rng.random()))
                          for s in SPECS}


async def simulate(name: str, make_router: Callable[[Sim], Router], seed: int, hours: float,
                   demand: float) -> Result:
    sim = Sim(seed, hours)
    router = make_router(sim)
    start = getattr(router, "start", None)
    if start is not None:
        await start()
    arrivals = random.Random(seed + 1)
    rate_per_s = demand * combined_rpm() / MINUTE_S
    counts = {"requests": 0, "served": 0, "first": 0, "router_calls": 0}

    def call(try_no: int) -> Awaitable[None] | None:
        counts["router_calls"] += 1

        def answered(status: int, retry_after: float | None) -> None:
            if status == 200:
                counts["served"] += 1
                counts["first"] += try_no == 0
                return
            if try_no >= SDK_MAX_RETRIES:
                return
            if retry_after is not None and 0 <= retry_after <= SDK_MAX_RETRY_AFTER_S:
                # What the router's Retry-After header carries: whole seconds, rounded up.
                delay = float(max(1, math.ceil(retry_after)))
            else:
                delay = min(0.5 * 2 ** try_no, 8.0) * arrivals.uniform(0.75, 1.0)
            sim.events.at(sim.clock.now + delay, lambda: call(try_no + 1))

        return router.handle(answered)

    t = arrivals.expovariate(rate_per_s)
    while t < sim.end:
        counts["requests"] += 1
        sim.events.at(t, lambda: call(0))
        t += arrivals.expovariate(rate_per_s)
    await sim.events.run()
    close = getattr(router, "aclose", None)
    if close is not None:
        await close()
    ups = sim.upstreams.values()
    return Result(
        name=name, requests=counts["requests"], served=counts["served"],
        served_first_call=counts["first"], router_calls=counts["router_calls"],
        upstream_calls=sum(u.calls for u in ups), upstream_429=sum(u.rate_limited for u in ups),
        upstream_5xx=sum(u.errors for u in ups),
        budget_skips=getattr(router, "budget_skips", 0),
    )


ROUTERS: Sequence[tuple[str, Callable[[Sim], Router]]] = (
    # [routing] max_queue_s = 10 (recommended for free pools); the default 0 answers 503 at once.
    ("freerouter random, max_queue_s 10", lambda s: Freerouter(s, UniformRandom(s.rng), 10.0)),
    ("freerouter weighted, max_queue_s 10", lambda s: Freerouter(s, Weighted(s.rng), 10.0)),
    ("freerouter random, max_queue_s 0 (default)", lambda s: Freerouter(s, UniformRandom(s.rng))),
    ("uniform random, no budgets", UniformNoBudgets),
)


def replicated(count: int, queue_s: float, redis_url: str | None) -> Callable[[Sim], Router]:
    """`count` replicas with the `random` strategy: separate memory stores, or one Redis as
    router.state.backends builds it (a FallbackStore over a RedisStore, own key prefix)."""

    def make(sim: Sim) -> Router:
        prefix = f"quota-sim-{uuid.uuid4().hex[:8]}:"
        replicas = []
        for n in range(count):
            name = f"replica-{n}"
            store: StateStore = MemoryStore(sim.clock, name)
            if redis_url is not None:
                store = FallbackStore(RedisStore(redis_url, prefix, 2.0, sim.clock, name),
                                      MemoryStore(sim.clock, name), Metrics(), sim.clock,
                                      safe_address(redis_url))
            replicas.append(Freerouter(sim, UniformRandom(random.Random(sim.rng.random())),
                                       queue_s, store))
        return Replicated(replicas)

    return make


def replica_routers(count: int, redis_url: str | None) -> list[tuple[str, Callable[[Sim], Router]]]:
    rows = []
    for queue_s in (10.0, 0.0):
        rows.append((f"{count} replicas, memory stores, max_queue_s {queue_s:g}",
                     replicated(count, queue_s, None)))
        if redis_url is not None:
            rows.append((f"{count} replicas, one Redis, max_queue_s {queue_s:g}",
                         replicated(count, queue_s, redis_url)))
    return rows


@contextmanager
def local_redis(wanted: str) -> Iterator[str | None]:
    """"auto": a redis-server of our own on a free port (when one is installed); "none": no
    Redis rows; anything else is the URL of a Redis to use."""
    if wanted == "none":
        yield None
        return
    if wanted != "auto":
        yield wanted
        return
    binary = redis_server.find_binary()
    if binary is None:
        print("(no redis-server on PATH: the Redis rows are left out)\n")
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp, redis_server.running(binary, Path(tmp)) as server:
        yield server.url


def table(results: Sequence[Result]) -> str:
    header = ("router", "requests", "served", "first call", "upstream calls", "429s", "429 share",
              "5xx", "budget skips")
    rows = [header] + [
        (r.name, str(r.requests), f"{100 * r.served_share:.2f}%",
         f"{100 * r.served_first_call / r.requests:.2f}%", str(r.upstream_calls),
         str(r.upstream_429), f"{100 * r.share_429:.2f}%", str(r.upstream_5xx), str(r.budget_skips))
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--demand", type=float, default=0.9, help="share of the combined rpm")
    parser.add_argument("--replicas", type=int, default=3, help="replicas of the replica rows")
    parser.add_argument("--redis", default="auto",
                        help='"auto" (a local redis-server), "none", or a redis:// URL')
    parser.add_argument("--scenario", choices=("requests", "tokens"),
                        help="run only this scenario (default: both)")
    parser.add_argument("--token-demand", type=float, default=0.9,
                        help="the tokens scenario's demand, a share of its pool's rough capacity")
    args = parser.parse_args(argv)
    # Thousands of simulated state transitions would drown the table.
    logs.configure(level="critical", stream=io.StringIO())
    if args.scenario in (None, "requests"):
        print(f"{args.hours:g} simulated hour(s), demand {args.demand:.0%} of "
              f"{combined_rpm():.0f} rpm combined quota, seed {args.seed}\n")
        with local_redis(args.redis) as url:
            rows = [*ROUTERS, *replica_routers(args.replicas, url)]
            results = [asyncio.run(simulate(name, make, args.seed, args.hours, args.demand))
                       for name, make in rows]
        print(table(results))
    if args.scenario in (None, "tokens"):
        from bench import quota_tokens  # it builds on this module

        print(f"\ntokens: {args.hours:g} simulated hour(s), demand {args.token_demand:.0%} of "
              f"{quota_tokens.capacity_rpm():.0f} requests a minute (the pool's rough capacity), "
              f"{quota_tokens.BIG_SHARE:.0%} of them ~20k-token prompts, seed {args.seed}")
        print(f"{quota_tokens.describe()}\n")
        token_results = [asyncio.run(quota_tokens.simulate_tokens(
            name, make, args.seed, args.hours, args.token_demand))
            for name, make in quota_tokens.TOKEN_ROUTERS]
        print(quota_tokens.token_table(token_results))


if __name__ == "__main__":
    main()
