"""Prometheus metrics: one registry per app, and one named method per event, so no other module
touches prometheus-client. Label values come only from config (routes, backend ids) and closed
enums (api, reason, result, kind, status), never from what a client typed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        self._children: dict[tuple[object, ...], Any] = {}
        # The standard process_* and python_* series, for memory and CPU panels.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter(
            "freerouter_requests", "Client requests answered, by API, route and HTTP status.",
            ["api", "route", "status"], registry=r,
        )
        self.request_duration = Histogram(
            "freerouter_request_duration_seconds",
            "Whole client request duration, streams included, in seconds.",
            ["api", "route"], buckets=DURATION_BUCKETS, registry=r,
        )
        self.selections = Counter(
            "freerouter_selections", "Backends picked by a route's strategy.",
            ["route", "backend", "strategy"], registry=r,
        )
        self.failures = Counter(
            "freerouter_backend_failures", "Failed upstream attempts, by backend and reason.",
            ["backend", "reason"], registry=r,
        )
        self.fallbacks = Counter(
            "freerouter_fallbacks", "Requests retried on another backend after a failure.",
            ["route"], registry=r,
        )
        self.upstream_latency = Histogram(
            "freerouter_upstream_latency_seconds",
            "Upstream time to response headers (first byte), in seconds.",
            ["backend"], buckets=DURATION_BUCKETS, registry=r,
        )
        self.ttft = Histogram(
            "freerouter_time_to_first_token_seconds",
            "Time from the client's request to the first content sent to it, in seconds.",
            ["backend"], buckets=TTFT_BUCKETS, registry=r,
        )
        self.health_score = Gauge(
            "freerouter_backend_health_score", "Backend health score, 0 (down) to 1 (healthy).",
            ["backend"], registry=r,
        )
        self.backend_up = Gauge(
            "freerouter_backend_up", "1 when the backend takes traffic, 0 while it cools down.",
            ["backend"], registry=r,
        )
        self.probes = Counter(
            "freerouter_probes", "Active health probes, by backend and result.",
            ["backend", "result"], registry=r,
        )
        self.tokens = Counter(
            "freerouter_tokens", "Tokens reported by upstreams, by backend and kind.",
            ["backend", "kind"], registry=r,
        )
        self.inflight = Gauge(
            "freerouter_inflight_requests", "Upstream requests in flight, by backend.",
            ["backend"], registry=r,
        )
        self.budget_remaining = Gauge(
            "freerouter_budget_remaining",
            "Room left in a backend's tightest budget of each kind (model's or provider's).",
            ["backend", "limit"], registry=r,
        )
        self.store_up = Gauge(
            "freerouter_state_store_up",
            "1 while the state store answers (always 1 for memory), 0 while local state stands in.",
            registry=r,
        )
        self.store_up.set(1.0)
        self.store_errors = Counter(
            "freerouter_state_store_errors", "State store calls that failed or timed out, by op.",
            ["op"], registry=r,
        )

    # Label children are looked up once and kept: prometheus-client's labels() validates and
    # locks on every call, which is most of a metric update's cost on the request path.
    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request_done(self, api: Api, route: str, status: int, duration_s: float) -> None:
        self._child(self.requests, api.value, route, str(status)).inc()
        self._child(self.request_duration, api.value, route).observe(duration_s)

    def selected(self, route: str, backend: str, strategy: str) -> None:
        self._child(self.selections, route, backend, strategy).inc()

    def failed(self, backend: str, reason: FailureReason) -> None:
        self._child(self.failures, backend, reason.value).inc()

    def fell_back(self, route: str) -> None:
        self._child(self.fallbacks, route).inc()

    def first_byte(self, backend: str, latency_s: float) -> None:
        self._child(self.upstream_latency, backend).observe(latency_s)

    def first_token(self, backend: str, ttft_s: float) -> None:
        self._child(self.ttft, backend).observe(ttft_s)

    def health(self, backend: str, score: float, up: bool) -> None:
        self._child(self.health_score, backend).set(score)
        self._child(self.backend_up, backend).set(1.0 if up else 0.0)

    def probed(self, backend: str, result: str) -> None:
        self._child(self.probes, backend, result).inc()

    def used_tokens(self, backend: str, prompt: int, completion: int) -> None:
        if prompt:
            self._child(self.tokens, backend, "prompt").inc(prompt)
        if completion:
            self._child(self.tokens, backend, "completion").inc(completion)

    def inflight_change(self, backend: str, delta: int) -> None:
        self._child(self.inflight, backend).inc(delta)

    def budget_left(self, backend: str, limit: str, left: int) -> None:
        self._child(self.budget_remaining, backend, limit).set(left)

    def state_store(self, up: bool) -> None:
        self.store_up.set(1.0 if up else 0.0)

    def state_store_failed(self, op: str) -> None:
        self._child(self.store_errors, op).inc()

    def state_store_ops(self, ops: Iterable[str]) -> None:
        """Every operation's error counter, at 0: a store that never failed shows 0, not no data."""
        for op in ops:
            self._child(self.store_errors, op)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
