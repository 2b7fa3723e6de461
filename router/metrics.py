"""Prometheus metrics: one registry per app, and one named method per event, so no other module
touches prometheus-client. Label values come only from config (routes, backend ids) and closed
enums (api, reason, result, kind, status), never from what a client typed."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from router.metric_families import (
    CounterFamily,
    FamiliesCollector,
    GaugeFamily,
    HistogramFamily,
)
from router.types import Api, FailureReason

# From milliseconds to minutes: LLM answers take from ~50 ms (a cached error) to 10 min (a long
# reasoning stream); time to first token from ~25 ms to a minute.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60)

UNKNOWN_ROUTE = "_unknown"
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # The standard process_* and python_* series, for memory and CPU panels.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = CounterFamily(
            "freerouter_requests", "Client requests answered, by API, route and HTTP status.",
            ["api", "route", "status"],
        )
        self.request_duration = HistogramFamily(
            "freerouter_request_duration_seconds",
            "Whole client request duration, streams included, in seconds.",
            ["api", "route"], DURATION_BUCKETS,
        )
        self.selections = CounterFamily(
            "freerouter_selections", "Backends picked by a route's strategy.",
            ["route", "backend", "strategy"],
        )
        self.failures = CounterFamily(
            "freerouter_backend_failures", "Failed upstream attempts, by backend and reason.",
            ["backend", "reason"],
        )
        self.fallbacks = CounterFamily(
            "freerouter_fallbacks", "Requests retried on another backend after a failure.",
            ["route"],
        )
        self.upstream_latency = HistogramFamily(
            "freerouter_upstream_latency_seconds",
            "Upstream time to response headers (first byte), in seconds.",
            ["backend"], DURATION_BUCKETS,
        )
        self.ttft = HistogramFamily(
            "freerouter_time_to_first_token_seconds",
            "Time from the client's request to the first content sent to it, in seconds.",
            ["backend"], TTFT_BUCKETS,
        )
        self.health_score = GaugeFamily(
            "freerouter_backend_health_score", "Backend health score, 0 (down) to 1 (healthy).",
            ["backend"],
        )
        self.backend_up = GaugeFamily(
            "freerouter_backend_up", "1 when the backend takes traffic, 0 while it cools down.",
            ["backend"],
        )
        self.probes = CounterFamily(
            "freerouter_probes", "Active health probes, by backend and result.",
            ["backend", "result"],
        )
        self.tokens = CounterFamily(
            "freerouter_tokens", "Tokens reported by upstreams, by backend and kind.",
            ["backend", "kind"],
        )
        self.inflight = GaugeFamily(
            "freerouter_inflight_requests", "Upstream requests in flight, by backend.",
            ["backend"],
        )
        self.budget_remaining = GaugeFamily(
            "freerouter_budget_remaining",
            "Room left in a backend's tightest budget of each kind (model's or provider's).",
            ["backend", "limit"],
        )
        self.store_up = GaugeFamily(
            "freerouter_state_store_up",
            "1 while the state store answers (always 1 for memory), 0 while local state stands in.",
        )
        self.store_up.set((), 1.0)
        self.store_errors = CounterFamily(
            "freerouter_state_store_errors", "State store calls that failed or timed out, by op.",
            ["op"],
        )
        r.register(FamiliesCollector([
            self.requests, self.request_duration, self.selections, self.failures,
            self.fallbacks, self.upstream_latency, self.ttft, self.health_score, self.backend_up,
            self.probes, self.tokens, self.inflight, self.budget_remaining, self.store_up,
            self.store_errors,
        ]))

    def request_done(self, api: Api, route: str, status: int, duration_s: float) -> None:
        self.requests.inc((api.value, route, str(status)))
        self.request_duration.observe((api.value, route), duration_s)

    def selected(self, route: str, backend: str, strategy: str) -> None:
        self.selections.inc((route, backend, strategy))

    def failed(self, backend: str, reason: FailureReason) -> None:
        self.failures.inc((backend, reason.value))

    def fell_back(self, route: str) -> None:
        self.fallbacks.inc((route,))

    def first_byte(self, backend: str, latency_s: float) -> None:
        self.upstream_latency.observe((backend,), latency_s)

    def first_token(self, backend: str, ttft_s: float) -> None:
        self.ttft.observe((backend,), ttft_s)

    def health(self, backend: str, score: float, up: bool) -> None:
        self.health_score.set((backend,), score)
        self.backend_up.set((backend,), 1.0 if up else 0.0)

    def probed(self, backend: str, result: str) -> None:
        self.probes.inc((backend, result))

    def used_tokens(self, backend: str, prompt: int, completion: int) -> None:
        if prompt:
            self.tokens.inc((backend, "prompt"), prompt)
        if completion:
            self.tokens.inc((backend, "completion"), completion)

    def inflight_change(self, backend: str, delta: int) -> None:
        self.inflight.inc((backend,), delta)

    def budget_left(self, backend: str, limit: str, left: int) -> None:
        self.budget_remaining.set((backend, limit), left)

    def state_store(self, up: bool) -> None:
        self.store_up.set((), 1.0 if up else 0.0)

    def state_store_failed(self, op: str) -> None:
        self.store_errors.inc((op,))

    def state_store_ops(self, ops: Iterable[str]) -> None:
        """Every operation's error counter, at 0: a store that never failed shows 0, not no data."""
        for op in ops:
            self.store_errors.touch((op,))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
