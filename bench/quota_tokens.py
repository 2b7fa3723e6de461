"""Token-budget yield: bench.quota_sim's simulated hour over token-limited free tiers.

    python -m bench.quota_sim --scenario tokens [--seed N] [--hours H] [--token-demand 0.9]

Six fake backends over five providers, each enforcing what its free tier does (per model): a
sliding minute of requests, and of tokens for all but OpenRouter. Groq and Cerebras charge a
request its prompt plus its *declared* max_tokens when it arrives (without one, Groq counts the
model's whole output length), answer 413 "Request too large ... (TPM): Limit N, Requested M" when
that alone is over the limit and 429 with Retry-After when the minute has no room for it, and
bill the real usage once the answer is out; Gemini and Mistral count what was used. Groq,
Cerebras and Mistral say what is left in their headers (x-ratelimit-*-tokens, in each one's
spelling, parsed by providers.ratelimits); their errors are classified by
providers.upstream_errors, as the router does.

Demand: Poisson arrivals, a mix of small chat requests (a few hundred tokens, half of them with
max_tokens 1024) and Claude-Code-sized turns (about 20k tokens of prompt, max_tokens 32000),
at `--token-demand` of the pool's rough capacity (each backend's rpm or tpm, whichever binds,
for the share of the mix it can take). The router's token estimate is 4 characters a token; the
real count differs by -10% to +10%.

Routers, all with failover to up to 3 distinct backends per request and SDK-like clients (two
retries honouring Retry-After), `max_queue_s` 10:
- freerouter, token budgets: the real Budgets and HealthTracker with the catalog's tpm and
  counts_max_tokens; the proxy's capability filter (prompt + min_output_tokens over a tpm leaves
  the backend out), reservation, declared output and settlement to the reported usage.
- freerouter, limits from headers: counts_max_tokens but no configured tpm: the limits come
  from the answers' headers and the 413s' messages.
- freerouter, no token budgets: rpm only, max_tokens forwarded as the client sent it.
- uniform random: no budgets, no health.

"served" counts the requests some backend can fit (all of them here) answered within the SDK's
retries; "tokens served / available" is the tokens the token-limited backends served over their
tokens per minute times the minutes simulated."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from bench.quota_sim import (
    MAX_ATTEMPTS,
    MIN_WAKE_S,
    MINUTE_S,
    NET_DELAY_S,
    SDK_MAX_RETRIES,
    SDK_MAX_RETRY_AFTER_S,
    Events,
    SimClock,
    SlidingMinute,
)
from providers.ratelimits import quota_from_headers
from providers.upstream_errors import classify
from router.budget import Budgets, Limits, Ticket
from router.errors import OverTokenBudget, UpstreamError
from router.health import HealthTracker
from router.state.memory import MemoryStore
from router.token_ask import declared, least, most, token_estimate
from router.types import Api, Backend, Needs, Outcome, Strategy
from strategies.uniform import UniformRandom

MIN_OUTPUT = 1024  # [routing] min_output_tokens
UNDECLARED = 32768  # what Groq counts for a request that declares no max_tokens
CONTEXT = 131072
QUEUE_S = 10.0
BIG_SHARE = 0.3  # of requests: Claude-Code-sized turns


@dataclass(frozen=True, slots=True)
class TokenSpec:
    provider: str
    model: str
    rpm: int
    tpm: int | None
    latency_s: float  # to the first token
    tokens_per_s: float
    counts_declared: bool = False  # Groq, Cerebras: the declared max_tokens is charged
    headers: str | None = None  # whose x-ratelimit token headers it sends

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"


SPECS: tuple[TokenSpec, ...] = (
    TokenSpec("groq", "gpt-oss-20b", 30, 8000, 0.2, 500, counts_declared=True, headers="groq"),
    TokenSpec("groq", "qwen3-32b", 30, 6000, 0.2, 400, counts_declared=True, headers="groq"),
    TokenSpec("cerebras", "gpt-oss-120b", 10, 30000, 0.2, 1500, counts_declared=True,
              headers="cerebras"),
    TokenSpec("gemini", "flash", 5, 250_000, 0.8, 150),
    TokenSpec("mistral", "small", 30, 500_000, 0.5, 100, headers="mistral"),
    TokenSpec("openrouter", "free", 20, None, 1.0, 60),
)


@dataclass(frozen=True, slots=True)
class Job:
    """One client request: what the router estimates, what the provider really counts."""

    estimate: int  # the router's prompt estimate
    prompt: int  # the provider's count of it
    output: int  # what the model would write, if allowed
    max_tokens: int | None  # the client's ceiling

    @property
    def needs(self) -> Needs:
        return Needs(frozenset(), prompt_tokens=self.estimate, max_output=self.max_tokens)


def make_job(rng: random.Random) -> Job:
    if rng.random() < BIG_SHARE:
        estimate = int(rng.gauss(20_000, 2500))
        return Job(estimate, int(estimate * rng.uniform(0.9, 1.1)), rng.randint(100, 2000), 32000)
    estimate = rng.randint(100, 900)
    return Job(estimate, int(estimate * rng.uniform(0.9, 1.1)), rng.randint(30, 600),
               rng.choice((None, 1024)))


# -- fake providers ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Charge:
    at: float
    tokens: int


class TokenMinute:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.charges: list[_Charge] = []

    def used(self, at: float) -> int:
        self.charges = [c for c in self.charges if c.at > at - MINUTE_S]
        return sum(c.tokens for c in self.charges)

    def frees_in(self, at: float, need: int) -> float:
        over = self.used(at) + need - self.limit
        for charge in sorted(self.charges, key=lambda c: c.at):
            over -= charge.tokens
            if over <= 0:
                return max(charge.at + MINUTE_S - at, 0.0)
        return MINUTE_S

    def full_in(self, at: float) -> float:
        return max((c.at + MINUTE_S - at for c in self.charges if c.at > at - MINUTE_S),
                   default=0.0)


@dataclass(slots=True)
class TokenReply:
    ok: bool
    latency_s: float
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    used: int = 0  # prompt + completion, as the answer's usage reports it
    complete: Callable[[], dict[str, str]] | None = None  # bills the usage; the answer's headers


class TokenUpstream:
    def __init__(self, spec: TokenSpec, rng: random.Random, clock: SimClock) -> None:
        self.spec = spec
        self._rng = rng
        self._clock = clock
        self._minute = SlidingMinute(spec.rpm)
        self._tokens = TokenMinute(spec.tpm) if spec.tpm is not None else None
        self.calls = self.rate_limited = self.too_large = 0
        self.served_tokens = 0

    def _error(self, status: int, message: str, retry_s: float | None) -> TokenReply:
        body = orjson.dumps({"error": {"message": message, "type": "tokens",
                                       "code": "rate_limit_exceeded"}})
        headers = {"retry-after": str(max(math.ceil(retry_s), 1))} if retry_s is not None else {}
        if status == 429:
            self.rate_limited += 1
        else:
            self.too_large += 1
        return TokenReply(False, 2 * NET_DELAY_S[0], status, body, headers)

    def call(self, job: Job, declared: int | None) -> TokenReply:
        self.calls += 1
        now = self._clock.now
        arrival = now + self._rng.uniform(*NET_DELAY_S)
        where = f"for model `{self.spec.model}` on tokens per minute (TPM)"
        if self._minute.full(arrival):
            return self._error(429, f"Rate limit reached {where.replace('tokens', 'requests')}"
                               f"", math.ceil(self._minute.frees_in(arrival)))
        output = job.output if declared is None else min(job.output, declared)
        charge: _Charge | None = None
        if self._tokens is not None:
            requested = job.prompt + ((declared or UNDECLARED) if self.spec.counts_declared else 0)
            used = self._tokens.used(arrival)
            limit = self._tokens.limit
            if requested > limit:
                if self.spec.counts_declared:
                    return self._error(413, f"Request too large {where}: Limit {limit}, "
                                       f"Requested {requested}, please reduce your message size",
                                       None)
                return self._error(429, f"Rate limit reached {where}: Limit {limit}", MINUTE_S)
            if used + requested > limit:
                wait = self._tokens.frees_in(arrival, requested)
                return self._error(429, f"Rate limit reached {where}: Limit {limit}, Used "
                                   f"{used}, Requested {requested}. Please try again in "
                                   f"{wait:.3f}s.", wait)
            charge = _Charge(arrival, requested)
            self._tokens.charges.append(charge)
        self._minute.add(arrival)
        latency = (2 * (arrival - now) + self.spec.latency_s * self._rng.uniform(0.7, 1.3)
                   + output / self.spec.tokens_per_s)
        used_total = job.prompt + output

        def complete() -> dict[str, str]:
            if charge is not None:
                charge.tokens = used_total  # the usage is billed, not the declared output
            self.served_tokens += used_total if self._tokens is not None else 0
            return self._headers()

        return TokenReply(True, latency, used=used_total, complete=complete)

    def _headers(self) -> dict[str, str]:
        if self._tokens is None or self.spec.headers is None:
            return {}
        now = self._clock.now
        left = str(max(self._tokens.limit - self._tokens.used(now), 0))
        reset = self._tokens.full_in(now)
        limit = str(self._tokens.limit)
        if self.spec.headers == "groq":
            minutes, rest = divmod(reset, 60.0)
            return {"x-ratelimit-limit-tokens": limit, "x-ratelimit-remaining-tokens": left,
                    "x-ratelimit-reset-tokens": f"{int(minutes)}m{rest:.2f}s" if minutes
                    else f"{rest:.2f}s"}
        if self.spec.headers == "cerebras":
            return {"x-ratelimit-limit-tokens-minute": limit,
                    "x-ratelimit-remaining-tokens-minute": left,
                    "x-ratelimit-reset-tokens-minute": f"{reset:.2f}"}
        return {"x-ratelimit-limit-tokens-minute": limit,
                "x-ratelimit-remaining-tokens-minute": left}


# -- routers -------------------------------------------------------------------------------------

Answer = Callable[[int, float | None], None]


@dataclass(slots=True)
class TokenRequest:
    job: Job
    answer: Answer
    deadline: float = math.inf
    failed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    unfit: set[str] = field(default_factory=set)  # backends whose tpm it can never fit
    sent: int = 0

    @property
    def tried(self) -> set[str]:
        return self.failed | self.skipped | self.unfit


class TokenSim:
    def __init__(self, seed: int, hours: float) -> None:
        self.end = hours * 3600.0
        self.rng = random.Random(seed)
        self.clock = SimClock()
        self.events = Events(self.clock)
        self.upstreams = {s.id: TokenUpstream(s, random.Random(self.rng.random()), self.clock)
                          for s in SPECS}


@dataclass(frozen=True, slots=True)
class Mode:
    """What the router knows of token budgets."""

    configured: bool  # the catalog's tpm per backend
    declares: bool  # counts_max_tokens where the provider counts declared output
    learns: bool  # stated limits (headers, 413/429 messages) and remaining-token headers


TOKEN_BUDGETS = Mode(configured=True, declares=True, learns=True)
FROM_HEADERS = Mode(configured=False, declares=True, learns=True)
NO_TOKEN_BUDGETS = Mode(configured=False, declares=False, learns=False)


class TokenFreerouter:
    """router/proxy.py's candidate loop, with its token-budget steps, over the real Budgets and
    HealthTracker; a request that finds no backend waits up to QUEUE_S for the soonest one."""

    def __init__(self, sim: TokenSim, strategy: Strategy, mode: Mode) -> None:
        self._sim = sim
        self._strategy = strategy
        self._mode = mode
        self.budgets = Budgets(MemoryStore(sim.clock), sim.clock)
        self.health = HealthTracker(sim.clock)
        self.backends = tuple(
            Backend(id=s.id, provider=s.provider, model=s.model, api=Api.OPENAI,
                    capabilities=frozenset(), context_length=CONTEXT, rpm=s.rpm,
                    tpm=s.tpm if mode.configured else None,
                    counts_max_tokens=s.counts_declared and mode.declares)
            for s in SPECS)
        self._capable: dict[tuple[str, ...], tuple[Backend, ...]] = {}
        self._queue: list[TokenRequest] = []
        self._wake_at = math.inf

    def _capable_for(self, job: Job) -> tuple[Backend, ...]:
        """The pool's filter: prompt + min_output_tokens over a configured tpm leaves it out."""
        need = job.estimate + MIN_OUTPUT
        fit = tuple(b for b in self.backends if b.tpm is None or need <= b.tpm)
        return self._capable.setdefault(tuple(b.id for b in fit), fit)

    def handle(self, job: Job, answer: Answer) -> Awaitable[None]:
        return self._next(TokenRequest(job, answer, self._sim.clock.now + QUEUE_S))

    def _soonest(self, backends: Sequence[Backend], job: Job, tokens: int) -> float:
        return min((max(self.health.wait_s(b),
                        self.budgets.refill_in(b, least(b, job.needs, tokens)))
                    for b in backends), default=0.0)

    async def _next(self, req: TokenRequest) -> None:
        job = req.job
        tokens = token_estimate(job.needs, MIN_OUTPUT)
        capable = self._capable_for(job)
        while req.sent < MAX_ATTEMPTS:
            candidates = self.health.candidates(capable, exclude=req.tried)
            if not candidates:
                break
            backend = self._strategy.pick(candidates, job.needs).backend
            ticket = await self.budgets.reserve(backend, least(backend, job.needs, tokens),
                                                most(backend, job.needs))
            if ticket is None:
                fits = self.budgets.fits(backend, least(backend, job.needs, tokens))
                (req.skipped if fits else req.unfit).add(backend.id)
                continue
            req.sent += 1
            self.health.begin(backend)
            bound = declared(backend, job.needs, ticket.tokens)
            self._send(req, backend, ticket, job.max_tokens if bound is None else bound, tokens)
            return
        left = [b for b in capable if b.id not in req.failed and b.id not in req.unfit]
        wait = self._soonest(left, job, tokens)
        if left and req.sent < MAX_ATTEMPTS and self._sim.clock.now + wait <= req.deadline:
            req.skipped.clear()
            self._queue.append(req)
            self._wake(self._sim.clock.now + max(wait, MIN_WAKE_S))
        elif not left and not req.failed:
            req.answer(400, None)  # no capable backend: the 400 naming tpm
        elif req.failed:
            req.answer(502, None)
        else:
            req.answer(503, wait)

    def _send(self, req: TokenRequest, backend: Backend, ticket: Ticket, declared: int | None,
              tokens: int) -> None:
        reply = self._sim.upstreams[backend.id].call(req.job, declared)
        self._sim.events.at(self._sim.clock.now + reply.latency_s,
                            lambda: self._done(req, backend, ticket, reply, tokens))

    def _wake(self, when: float) -> None:
        if when < self._wake_at:
            self._wake_at = when
            self._sim.events.at(when, self._drain)

    async def _drain(self) -> None:
        if self._sim.clock.now < self._wake_at:
            return
        self._wake_at = math.inf
        queue, self._queue = self._queue, []
        now = self._sim.clock.now
        for req in queue:
            if req.deadline < now:
                req.answer(503, None)
            else:
                await self._next(req)

    async def _done(self, req: TokenRequest, backend: Backend, ticket: Ticket,
                    reply: TokenReply, tokens: int) -> None:
        self.health.end(backend)
        wall = self._sim.clock.wall()
        if reply.ok:
            assert reply.complete is not None
            headers = reply.complete()
            self.health.record(Outcome(backend.id, ok=True, latency_s=reply.latency_s),
                               backend.provider)
            quota = quota_from_headers(headers, wall) if self._mode.learns else None
            if quota is not None:
                self.budgets.observe(backend.id, quota, reply.latency_s,
                                    ticket.tokens or least(backend, req.job.needs, tokens))
            await self.budgets.settle(ticket, reply.used)
            req.answer(200, None)
            return
        await self.budgets.settle(ticket, 0)
        error = classify(reply.status, reply.headers, reply.body, now=wall)
        self._failed(backend, error)
        if isinstance(error, OverTokenBudget) and self._mode.learns:
            req.unfit.add(backend.id)
        else:
            req.failed.add(backend.id)
        await self._next(req)

    def _failed(self, backend: Backend, error: UpstreamError) -> None:
        if self._mode.learns:
            if error.tpm_limit is not None:
                self.budgets.learn(backend.id, Limits(tpm=error.tpm_limit))
            if isinstance(error, OverTokenBudget):
                return
        self.health.record(Outcome(backend.id, ok=False, reason=error.reason,
                                   retry_after_s=error.retry_after_s,
                                   provider_wide=error.provider_wide,
                                   until_epoch=error.until_epoch), backend.provider)


class TokenUniform:
    """Plain uniform random choice with failover, max_tokens as sent; no budgets, no health."""

    def __init__(self, sim: TokenSim) -> None:
        self._sim = sim

    def handle(self, job: Job, answer: Answer) -> None:
        self._next(TokenRequest(job, answer))

    def _next(self, req: TokenRequest) -> None:
        left = [s.id for s in SPECS if s.id not in req.failed]
        if req.sent >= MAX_ATTEMPTS or not left:
            req.answer(502, None)
            return
        backend = left[self._sim.rng.randrange(len(left))]
        req.sent += 1
        reply = self._sim.upstreams[backend].call(req.job, req.job.max_tokens)

        def done() -> None:
            if reply.ok:
                assert reply.complete is not None
                reply.complete()
                req.answer(200, None)
            else:
                req.failed.add(backend)
                self._next(req)

        self._sim.events.at(self._sim.clock.now + reply.latency_s, done)


# -- the simulation ------------------------------------------------------------------------------


class TokenRouter(Protocol):
    def handle(self, job: Job, answer: Answer) -> Awaitable[None] | None: ...


@dataclass(frozen=True, slots=True)
class TokenResult:
    name: str
    requests: int
    servable: int
    served: int
    upstream_calls: int
    upstream_429: int
    upstream_413: int
    tokens_served: int
    tokens_available: int

    @property
    def served_share(self) -> float:
        return self.served / self.servable if self.servable else 1.0

    @property
    def share_429(self) -> float:
        return self.upstream_429 / self.upstream_calls if self.upstream_calls else 0.0


def capacity_rpm() -> float:
    """The pool's rough capacity for the mix, in requests a minute: each backend gives its rpm,
    or its tpm over the mean tokens of the requests it can take, whichever binds."""
    rng = random.Random(0)
    jobs = [make_job(rng) for _ in range(4000)]
    total = 0.0
    for spec in SPECS:
        fits = [j for j in jobs if spec.tpm is None or j.estimate + MIN_OUTPUT <= spec.tpm]
        if not fits:
            continue
        if spec.tpm is None:
            total += spec.rpm
            continue
        mean = sum(j.prompt + j.output for j in fits) / len(fits)
        total += min(spec.rpm, spec.tpm / mean)
    return total


async def simulate_tokens(name: str, make_router: Callable[[TokenSim], TokenRouter], seed: int,
                          hours: float, demand: float) -> TokenResult:
    sim = TokenSim(seed, hours)
    router = make_router(sim)
    arrivals = random.Random(seed + 1)
    jobs = random.Random(seed + 2)
    rate_per_s = demand * capacity_rpm() / MINUTE_S
    counts = {"requests": 0, "served": 0}

    def call(job: Job, try_no: int) -> Awaitable[None] | None:
        def answered(status: int, retry_after: float | None) -> None:
            if status == 200:
                counts["served"] += 1
                return
            if try_no >= SDK_MAX_RETRIES or status == 400:
                return
            if retry_after is not None and 0 <= retry_after <= SDK_MAX_RETRY_AFTER_S:
                delay = float(max(1, math.ceil(retry_after)))
            else:
                delay = min(0.5 * 2 ** try_no, 8.0) * arrivals.uniform(0.75, 1.0)
            sim.events.at(sim.clock.now + delay, lambda: call(job, try_no + 1))

        return router.handle(job, answered)

    t = arrivals.expovariate(rate_per_s)
    while t < sim.end:
        counts["requests"] += 1
        job = make_job(jobs)
        sim.events.at(t, lambda job=job: call(job, 0))  # type: ignore[misc]
        t += arrivals.expovariate(rate_per_s)
    await sim.events.run()
    ups = sim.upstreams.values()
    minutes = hours * 60.0
    return TokenResult(
        name=name, requests=counts["requests"], servable=counts["requests"],
        served=counts["served"], upstream_calls=sum(u.calls for u in ups),
        upstream_429=sum(u.rate_limited for u in ups), upstream_413=sum(u.too_large for u in ups),
        tokens_served=sum(u.served_tokens for u in ups),
        tokens_available=int(sum(s.tpm for s in SPECS if s.tpm is not None) * minutes),
    )


TOKEN_ROUTERS: Sequence[tuple[str, Callable[[TokenSim], TokenRouter]]] = (
    ("freerouter, token budgets", lambda s: TokenFreerouter(s, UniformRandom(s.rng), TOKEN_BUDGETS)),
    ("freerouter, limits from headers only",
     lambda s: TokenFreerouter(s, UniformRandom(s.rng), FROM_HEADERS)),
    ("freerouter, no token budgets",
     lambda s: TokenFreerouter(s, UniformRandom(s.rng), NO_TOKEN_BUDGETS)),
    ("uniform random, no budgets", TokenUniform),
)


def token_table(results: Sequence[TokenResult]) -> str:
    header = ("router", "requests", "served", "upstream calls", "429s", "429 share", "413s",
              "tokens served / available")
    rows: list[Sequence[str]] = [header, *(
        (r.name, str(r.requests), f"{100 * r.served_share:.2f}%", str(r.upstream_calls),
         str(r.upstream_429), f"{100 * r.share_429:.2f}%", str(r.upstream_413),
         f"{100 * r.tokens_served / r.tokens_available:.1f}%")
        for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def describe() -> str:
    backends = ", ".join(f"{s.id} ({s.rpm} rpm, {s.tpm or 'no'} tpm"
                         f"{', declared output counted' if s.counts_declared else ''})"
                         for s in SPECS)
    return f"backends: {backends}"
