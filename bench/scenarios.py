"""The scenarios the bench runs, and the issue's targets computed from their medians."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bench.loadgen import ApiName, ClientApiName, HoldResult, LoadResult
from bench.stats import median

# "floor-settled": the floor proxy with freerouter's garbage-collector settings (a reference).
TargetKind = Literal["direct", "floor", "floor-settled", "freerouter", "litellm"]
# "wrk" drives non-streaming load with far less CPU than the aiohttp client, which
# otherwise becomes the bottleneck of the direct and floor rows (they share its core).
ClientKind = Literal["aiohttp", "wrk"]
# Where the router keeps budgets: "none" configures no budget (no store call on the request
# path); "memory" and "redis" configure rpm/rpd budgets that never run out, kept in the process
# or in a local redis-server.
StateKind = Literal["none", "memory", "redis"]


ROUTE_WARMUP_S = 4.0


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    target: TargetKind
    concurrency: int
    stream: bool = False
    client_api: ClientApiName = "openai"
    backend_api: ApiName = "openai"
    backends: int = 1
    # > 0: instead of a timed load, hold this many streams open and measure memory.
    hold: int = 0
    client: ClientKind = "aiohttp"
    # Large routes build per-backend state lazily in their first seconds; the targets are
    # about the steady state, so these rows warm up at least this long.
    min_warmup_s: float = 0.0
    state: StateKind = "none"

    def baseline_key(self) -> tuple[ClientApiName, bool, int, ClientKind]:
        """Which direct scenario this one's added latency is measured against."""
        return (self.client_api, self.stream, self.concurrency, self.client)


def _s(key: str, label: str, target: TargetKind, c: int, **rest: object) -> Scenario:
    return Scenario(key, label, target, c, **rest)  # type: ignore[arg-type]


def all_scenarios(hold_streams: int) -> tuple[Scenario, ...]:
    return (
        _s("direct-c1", "direct to upstream, c=1", "direct", 1),
        _s("direct-c16", "direct to upstream, c=16", "direct", 16),
        _s("direct-c64", "direct to upstream, c=64", "direct", 64),
        _s("direct-stream-c1", "direct, stream, c=1", "direct", 1, stream=True),
        _s("direct-stream-c16", "direct, stream, c=16", "direct", 16, stream=True),
        _s("direct-anth-c64", "direct, Anthropic API, c=64", "direct", 64, client_api="anthropic"),
        _s(
            "direct-anth-stream-c1",
            "direct, Anthropic API, stream, c=1",
            "direct",
            1,
            stream=True,
            client_api="anthropic",
        ),
        _s("floor-c1", "floor proxy, c=1", "floor", 1),
        _s("floor-c16", "floor proxy, c=16", "floor", 16),
        _s("floor-c64", "floor proxy, c=64", "floor", 64),
        _s("floor-stream-c1", "floor proxy, stream, c=1", "floor", 1, stream=True),
        _s("floor-stream-c16", "floor proxy, stream, c=16", "floor", 16, stream=True),
        _s("fr-c1", "freerouter, c=1", "freerouter", 1),
        _s("fr-c16", "freerouter, c=16", "freerouter", 16),
        _s("fr-c64", "freerouter, c=64", "freerouter", 64),
        _s("fr-stream-c1", "freerouter, stream, c=1", "freerouter", 1, stream=True),
        _s("fr-stream-c16", "freerouter, stream, c=16", "freerouter", 16, stream=True),
        _s(
            "fr-a2o-c64",
            "freerouter, Anthropic client -> OpenAI backend, c=64",
            "freerouter",
            64,
            client_api="anthropic",
        ),
        _s(
            "fr-o2a-c64",
            "freerouter, OpenAI client -> Anthropic backend, c=64",
            "freerouter",
            64,
            backend_api="anthropic",
        ),
        _s(
            "fr-a2o-stream-c1",
            "freerouter, Anthropic client -> OpenAI backend, stream, c=1",
            "freerouter",
            1,
            stream=True,
            client_api="anthropic",
        ),
        _s(
            "fr-o2a-stream-c1",
            "freerouter, OpenAI client -> Anthropic backend, stream, c=1",
            "freerouter",
            1,
            stream=True,
            backend_api="anthropic",
        ),
        # The Responses API on the same backend as the Chat Completions rows: the CPU a request
        # costs against theirs is its target (no direct row: the upstream speaks chat).
        _s("fr-resp-c1", "freerouter, Responses client, c=1", "freerouter", 1, client_api="responses"),
        _s("fr-resp-c64", "freerouter, Responses client, c=64", "freerouter", 64, client_api="responses"),
        _s("fr-resp-stream-c1", "freerouter, Responses client, stream, c=1", "freerouter", 1,
           stream=True, client_api="responses"),
        _s("fr-resp-stream-c16", "freerouter, Responses client, stream, c=16", "freerouter", 16,
           stream=True, client_api="responses"),
        _s("fr-resp-o2a-c64", "freerouter, Responses client -> Anthropic backend, c=64",
           "freerouter", 64, client_api="responses", backend_api="anthropic"),
        _s(
            "fr-route10",
            "freerouter, route of 10 backends, c=16",
            "freerouter",
            16,
            backends=10,
            min_warmup_s=ROUTE_WARMUP_S,
        ),
        _s(
            "fr-route100",
            "freerouter, route of 100 backends, c=16",
            "freerouter",
            16,
            backends=100,
            min_warmup_s=ROUTE_WARMUP_S,
        ),
        _s(
            "fr-route1000",
            "freerouter, route of 1000 backends, c=16",
            "freerouter",
            16,
            backends=1000,
            min_warmup_s=ROUTE_WARMUP_S,
        ),
        _s(
            "floor-hold",
            f"floor proxy, {hold_streams} open streams",
            "floor",
            hold_streams,
            stream=True,
            hold=hold_streams,
        ),
        _s(
            "fr-hold",
            f"freerouter, {hold_streams} open streams",
            "freerouter",
            hold_streams,
            stream=True,
            hold=hold_streams,
        ),
        _s("direct-c1-wrk", "direct to upstream, c=1, wrk", "direct", 1, client="wrk"),
        _s("direct-c64-wrk", "direct to upstream, c=64, wrk", "direct", 64, client="wrk"),
        _s("floor-c1-wrk", "floor proxy, c=1, wrk", "floor", 1, client="wrk"),
        _s("floor-c64-wrk", "floor proxy, c=64, wrk", "floor", 64, client="wrk"),
        _s("floor-settled-c64-wrk", "floor proxy, heap settled as freerouter's, c=64, wrk",
           "floor-settled", 64, client="wrk"),
        _s("fr-c1-wrk", "freerouter, c=1, wrk", "freerouter", 1, client="wrk"),
        _s("fr-c64-wrk", "freerouter, c=64, wrk", "freerouter", 64, client="wrk"),
        _s("fr-resp-c64-wrk", "freerouter, Responses client, c=64, wrk", "freerouter", 64,
           client_api="responses", client="wrk"),
        _s(
            "fr-a2o-c64-wrk",
            "freerouter, Anthropic client -> OpenAI backend, c=64, wrk",
            "freerouter",
            64,
            client_api="anthropic",
            client="wrk",
        ),
        _s(
            "fr-o2a-c64-wrk",
            "freerouter, OpenAI client -> Anthropic backend, c=64, wrk",
            "freerouter",
            64,
            backend_api="anthropic",
            client="wrk",
        ),
        _s("fr-budget-mem-c1", "freerouter, budgets in memory, c=1", "freerouter", 1,
           state="memory"),
        _s("fr-budget-redis-c1", "freerouter, budgets in a local Redis, c=1", "freerouter", 1,
           state="redis"),
        _s("fr-budget-mem-c64", "freerouter, budgets in memory, c=64", "freerouter", 64,
           state="memory"),
        _s("fr-budget-redis-c64", "freerouter, budgets in a local Redis, c=64", "freerouter", 64,
           state="redis"),
        _s("fr-budget-mem-c1-wrk", "freerouter, budgets in memory, c=1, wrk", "freerouter", 1,
           state="memory", client="wrk"),
        _s("fr-budget-redis-c1-wrk", "freerouter, budgets in a local Redis, c=1, wrk",
           "freerouter", 1, state="redis", client="wrk"),
        _s("fr-budget-mem-c64-wrk", "freerouter, budgets in memory, c=64, wrk", "freerouter", 64,
           state="memory", client="wrk"),
        _s("fr-budget-redis-c64-wrk", "freerouter, budgets in a local Redis, c=64, wrk",
           "freerouter", 64, state="redis", client="wrk"),
        _s("litellm-c1", "LiteLLM proxy (1 worker), c=1", "litellm", 1),
        _s("litellm-c64", "LiteLLM proxy (1 worker), c=64", "litellm", 64),
        _s("litellm-stream-c1", "LiteLLM proxy (1 worker), stream, c=1", "litellm", 1, stream=True),
    )


@dataclass(frozen=True)
class RunResult:
    """One fresh-process run of one scenario."""

    scenario: Scenario
    load: LoadResult | None = None
    hold: HoldResult | None = None
    rss_warm_kb: int | None = None
    rss_end_kb: int | None = None
    cpu_us_per_request: float | None = None
    failure: str | None = None


def _mb(kb: float | None) -> float | None:
    return None if kb is None else kb / 1024.0


@dataclass(frozen=True)
class Summary:
    """Medians over the runs of one scenario."""

    scenario: Scenario
    runs: int
    failed_runs: int
    errors: int
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None
    ttfc_p50_ms: float | None
    chunks_per_s: float | None
    rss_warm_mb: float | None
    rss_end_mb: float | None
    cpu_us_per_request: float | None
    streams_opened: float | None = None
    seconds_to_open: float | None = None

    @property
    def busy(self) -> float | None:
        """Share of one core the subject used in the window: near 1 means it was the bottleneck."""
        if self.cpu_us_per_request is None or self.rps is None:
            return None
        return self.cpu_us_per_request * self.rps / 1e6


def summarise(scenario: Scenario, runs: Sequence[RunResult]) -> Summary:
    loads = [r.load for r in runs if r.load is not None]
    holds = [r.hold for r in runs if r.hold is not None]
    return Summary(
        scenario=scenario,
        runs=len(runs),
        failed_runs=sum(r.failure is not None for r in runs),
        errors=sum(load.errors for load in loads),
        rps=median([load.rps for load in loads]),
        p50_ms=median([load.latency_p50_ms for load in loads]),
        p99_ms=median([load.latency_p99_ms for load in loads]),
        ttfc_p50_ms=median([load.ttfc_p50_ms for load in loads]),
        chunks_per_s=median([load.chunks_per_s for load in loads]),
        rss_warm_mb=_mb(median([r.rss_warm_kb for r in runs])),
        rss_end_mb=_mb(median([r.rss_end_kb for r in runs])),
        cpu_us_per_request=median([r.cpu_us_per_request for r in runs]),
        streams_opened=median([float(h.opened) for h in holds]),
        seconds_to_open=median([h.seconds_to_open for h in holds]),
    )


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    ratio: float | None
    met: bool | None  # None: not measured in this run


Summaries = Mapping[str, Summary]


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _quotient(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def added(summaries: Summaries, key: str, metric: Callable[[Summary], float | None]) -> float | None:
    """``metric`` of scenario ``key`` minus the same metric of its direct baseline."""
    subject = summaries.get(key)
    if subject is None:
        return None
    for other in summaries.values():
        if other.scenario.target == "direct" and other.scenario.baseline_key() == (
            subject.scenario.baseline_key()
        ):
            return _diff(metric(subject), metric(other))
    return None


def _fmt(value: float | None, unit: str) -> str:
    return "not measured" if value is None else f"{value:.2f}{unit}"


def _at_most(target: str, value: float | None, limit: float, unit: str, context: str = "") -> Verdict:
    ratio = _quotient(value, limit)
    shown = _fmt(value, unit) + (f" ({context})" if context and value is not None else "")
    return Verdict(target, shown, ratio, None if value is None else value <= limit)


def _added_vs_floor(
    summaries: Summaries,
    target: str,
    key: str,
    metric: Callable[[Summary], float | None],
    limit: float,
) -> Verdict:
    """An added-latency target, shown next to what the floor proxy adds on the same machine:
    the floor is the part no aiohttp proxy can avoid."""
    floor = added(summaries, key.replace("fr-", "floor-", 1), metric)
    context = f"{key}" + ("" if floor is None else f"; the floor proxy adds {floor:.2f} ms")
    return _at_most(target, added(summaries, key, metric), limit, " ms", context)


# Below this share of its core the reference was not what limited its req/s.
SATURATED = 0.8


def _throughput(summaries: Summaries, target: str, key: str, reference: str, goal: float) -> Verdict:
    """Compare req/s when the reference was saturated; otherwise its req/s only shows the
    load generator's limit, and the CPU cost per request is the fair comparison."""
    a, b = summaries.get(key), summaries.get(reference)
    if a is None or b is None or a.rps is None or not b.rps:
        return Verdict(target, "not measured", None, None)
    shown = f"{key} vs {reference}: {a.rps:,.0f} vs {b.rps:,.0f} req/s"
    ratio = a.rps / b.rps
    if a.cpu_us_per_request and b.cpu_us_per_request and b.busy is not None:
        cost = b.cpu_us_per_request / a.cpu_us_per_request
        shown += (
            f"; CPU {a.cpu_us_per_request:,.0f} vs {b.cpu_us_per_request:,.0f} us/req (cost ratio {cost:.2f})"
        )
        if b.busy < SATURATED:
            shown += f"; reference only {100 * b.busy:.0f}% busy, judged by cost ratio"
            ratio = cost
    return Verdict(target, shown, ratio, ratio >= goal)


def _cpu_ratio(summaries: Summaries, target: str, key: str, reference: str, limit: float) -> Verdict:
    """CPU per request of `key` over that of `reference`, at most `limit`."""
    a, b = summaries.get(key), summaries.get(reference)
    if a is None or b is None or not a.cpu_us_per_request or not b.cpu_us_per_request:
        return Verdict(target, "not measured", None, None)
    ratio = a.cpu_us_per_request / b.cpu_us_per_request
    shown = f"{key} vs {reference}: {a.cpu_us_per_request:,.0f} vs {b.cpu_us_per_request:,.0f} us/req"
    return Verdict(target, shown, ratio / limit, ratio <= limit)


def _measured(summaries: Summaries, key: str) -> bool:
    found = summaries.get(key)
    return found is not None and found.rps is not None


def _pair(summaries: Summaries, subject: str, reference: str) -> tuple[str, str]:
    """The wrk variant of a pair of rows when both were measured (less client noise),
    else the aiohttp rows."""
    wrk_pair = (f"{subject}-wrk", f"{reference}-wrk")
    if all(_measured(summaries, key) for key in wrk_pair):
        return wrk_pair
    return subject, reference


def _rss(summaries: Summaries, key: str, pick: Callable[[Summary], float | None]) -> float | None:
    found = summaries.get(key)
    return None if found is None else pick(found)


def verdicts(summaries: Summaries) -> list[Verdict]:
    """The issue's targets, each as measured in this run."""
    result = [
        _throughput(
            summaries,
            "req/s at c=64 >= 75% of the floor proxy",
            *_pair(summaries, "fr-c64", "floor-c64"),
            0.75,
        )
    ]
    c1, _ = _pair(summaries, "fr-c1", "floor-c1")
    result += [
        _added_vs_floor(summaries, "added p50 at c=1 <= 0.6 ms", c1, lambda s: s.p50_ms, 0.6),
        _added_vs_floor(summaries, "added p99 at c=1 <= 2 ms", c1, lambda s: s.p99_ms, 2.0),
        _added_vs_floor(
            summaries,
            "time to first chunk added at c=1 <= 1 ms",
            "fr-stream-c1",
            lambda s: s.ttfc_p50_ms,
            1.0,
        ),
    ]
    # Issue 17: every client-upstream pair at 75% of the floor (issue 7 asked 60% of the
    # translated pairs).
    for key, label in (("fr-a2o-c64", "Anthropic->OpenAI"), ("fr-o2a-c64", "OpenAI->Anthropic"),
                       ("fr-resp-c64", "Responses->OpenAI")):
        target = f"{label} req/s (c=64) >= 75% of floor"
        result.append(_throughput(summaries, target, *_pair(summaries, key, "floor-c64"), 0.75))
    for subject, reference, label in (("fr-resp-c64", "fr-c64", "non-streaming, c=64"),
                                      ("fr-resp-stream-c1", "fr-stream-c1", "stream, c=1")):
        result.append(_cpu_ratio(summaries, f"Responses CPU/req <= 110% of Chat Completions ({label})",
                                 *_pair(summaries, subject, reference), 1.10))
    target = "1000 backends >= 90% of the req/s of 10"
    result.append(_throughput(summaries, target, "fr-route1000", "fr-route10", 0.90))
    # The Responses rows count at the window's end: what they stored meanwhile is held memory.
    held = [_rss(summaries, k, lambda s: s.rss_warm_mb)
            for k in ("fr-c1", "fr-c16", "fr-c64", "fr-stream-c1", "fr-stream-c16")]
    held += [_rss(summaries, k, lambda s: s.rss_end_mb) for k in ("fr-resp-c64", "fr-resp-c1")]
    warm = max((v for v in held if v is not None), default=None)
    result.append(_at_most("RSS after warm-up <= 80 MB (max over 1-backend runs; Responses at "
                           "the end)", warm, 80.0, " MB"))
    grown = _diff(
        _rss(summaries, "fr-hold", lambda s: s.rss_end_mb),
        _rss(summaries, "fr-hold", lambda s: s.rss_warm_mb),
    )
    result.append(_at_most("RSS growth with the open streams <= 100 MB", grown, 100.0, " MB"))
    target = "req/s at c=64 >= 30x LiteLLM"
    result.append(_throughput(summaries, target, "fr-c64", "litellm-c64", 30.0))
    return result + _sharing_costs(summaries)


def against_settled_floor(summaries: Summaries) -> list[Verdict]:
    """The c=64 pairs against the floor with freerouter's collector settings: how much of the
    ratio is the router's own cost, and how much a process setting any aiohttp server could
    take too."""
    pairs = (("fr-c64-wrk", "OpenAI->OpenAI"), ("fr-a2o-c64-wrk", "Anthropic->OpenAI"),
             ("fr-o2a-c64-wrk", "OpenAI->Anthropic"), ("fr-resp-c64-wrk", "Responses->OpenAI"))
    return [_throughput(summaries, f"{label} req/s (c=64) >= 75% of the settled floor", key,
                        "floor-settled-c64-wrk", 0.75) for key, label in pairs]


def _sharing_costs(summaries: Summaries) -> list[Verdict]:
    """What budgets through a local Redis cost over the same budgets in memory."""
    c1 = _pair(summaries, "fr-budget-redis-c1", "fr-budget-mem-c1")
    c64 = _pair(summaries, "fr-budget-redis-c64", "fr-budget-mem-c64")

    def over_memory(metric: Callable[[Summary], float | None]) -> float | None:
        redis, memory = summaries.get(c1[0]), summaries.get(c1[1])
        return None if redis is None or memory is None else _diff(metric(redis), metric(memory))

    return [
        _at_most("budgets via Redis add <= 0.3 ms p50 at c=1 (vs memory)",
                 over_memory(lambda s: s.p50_ms), 0.3, " ms", c1[0]),
        _at_most("budgets via Redis add <= 2 ms p99 at c=1 (vs memory)",
                 over_memory(lambda s: s.p99_ms), 2.0, " ms", c1[0]),
        _throughput(summaries, "budgets via Redis: req/s at c=64 >= 75% of memory", *c64, 0.75),
    ]
