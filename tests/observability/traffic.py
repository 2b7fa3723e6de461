"""Fake client traffic for the live observability test: both APIs, streamed and not, the `free`
route and every backend by id, plus an unknown model (404) and a request needing a combination of
capabilities no demo backend has (400), until the router's own metrics show every kind of event
the dashboard charts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

ROUTE = "free"
CONCURRENCY = 8
MAX_ROUNDS = 40
# Rounds at the least: a series born in one round has no rate until a later round, a scrape
# apart, increases it (a route whose only 5xx came in the last round would read 0/0).
MIN_ROUNDS = 3
TINY_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True, slots=True)
class Call:
    path: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]


def chat(model: str, stream: bool, **extra: Any) -> Call:
    body = {"model": model, "stream": stream, "max_tokens": 32,
            "messages": [{"role": "user", "content": "Say hello."}], **extra}
    return Call("/v1/chat/completions", body, {})


def messages(model: str, stream: bool) -> Call:
    body = {"model": model, "stream": stream, "max_tokens": 32,
            "messages": [{"role": "user", "content": "Say hello."}]}
    return Call("/v1/messages", body, {"anthropic-version": "2023-06-01"})


UNKNOWN_MODEL = chat("no-such-model-anywhere", False)
# tools + vision + json_object: the demo has tools+vision (claude-sim) and vision+json_object
# (demo/vision-12b) backends, but none with all three.
NO_CAPABLE_BACKEND = chat(
    ROUTE, False,
    response_format={"type": "json_object"},
    messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": TINY_PNG}},
    ]}],
    tools=[{"type": "function", "function": {
        "name": "describe", "parameters": {"type": "object", "properties": {}}}}],
)


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def parse_samples(exposition: str) -> list[Sample]:
    return [
        Sample(sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


def total(samples: list[Sample], name: str, where: Callable[[Mapping[str, str]], bool]) -> float:
    return sum(s.value for s in samples if s.name == name and where(s.labels))


def _any(_labels: Mapping[str, str]) -> bool:
    return True


# What the traffic must have produced before Prometheus is asked anything.
EVIDENCE: Mapping[str, Callable[[list[Sample]], bool]] = {
    "a fallback": lambda s: total(s, "freerouter_fallbacks_total", _any) > 0,
    "a backend failure": lambda s: total(s, "freerouter_backend_failures_total", _any) > 0,
    "a 5xx answer": lambda s: total(
        s, "freerouter_requests_total", lambda labels: labels["status"].startswith("5")) > 0,
    "a 404 answer": lambda s: total(
        s, "freerouter_requests_total", lambda labels: labels["status"] == "404") > 0,
    "a 400 answer": lambda s: total(
        s, "freerouter_requests_total", lambda labels: labels["status"] == "400") > 0,
    "both APIs served": lambda s: {
        x.labels["api"] for x in s
        if x.name == "freerouter_requests_total" and x.labels["status"] == "200"
    } >= {"openai", "anthropic"},
    "a first token": lambda s: total(s, "freerouter_time_to_first_token_seconds_count", _any) > 0,
    "tokens": lambda s: total(s, "freerouter_tokens_total", _any) > 0,
    "health gauges": lambda s: any(x.name == "freerouter_backend_up" for x in s),
    # The prober spreads its first round over one probe interval (15 s in the demo).
    "a probe": lambda s: total(s, "freerouter_probes_total", _any) > 0,
}


def missing_evidence(exposition: str) -> list[str]:
    samples = parse_samples(exposition)
    return [what for what, seen in EVIDENCE.items() if not seen(samples)]


@dataclass(frozen=True, slots=True)
class TrafficReport:
    requests: int
    statuses: Mapping[int, int]
    rounds: int
    missing: tuple[str, ...]


async def _send(session: aiohttp.ClientSession, base: str, call: Call,
                limit: asyncio.Semaphore) -> int:
    async with limit, session.post(base + call.path, json=call.body, headers=call.headers) as resp:
        await resp.read()  # a stream is read to its end, as a client would
        return resp.status


async def backend_ids(session: aiohttp.ClientSession, base: str) -> list[str]:
    async with session.get(base + "/v1/models") as resp:
        listing = await resp.json()
    return [m["id"] for m in listing["data"] if m.get("owned_by") != "freerouter"]


async def drive(base: str, scraped_enough: Callable[[], bool]) -> TrafficReport:
    """Send rounds of mixed requests until every piece of EVIDENCE is on /metrics and
    `scraped_enough()` says Prometheus has scraped the router several times meanwhile: a
    series' first scrape only sets its baseline, so rates need increases seen across scrapes."""
    statuses: dict[int, int] = {}
    limit = asyncio.Semaphore(CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        backends = await backend_ids(session, base)
        a_round = (
            [UNKNOWN_MODEL, NO_CAPABLE_BACKEND]
            + [chat(ROUTE, stream=i % 2 == 0) for i in range(8)]
            + [messages(ROUTE, stream=i % 2 == 0) for i in range(4)]
            # One backend only: when it fails there is nothing to fall back to, hence the 5xx.
            + [chat(backend, stream=False) for backend in backends for _ in range(2)]
        )
        missing: list[str] = list(EVIDENCE)
        rounds = 0
        enough = False
        while (missing or not enough or rounds < MIN_ROUNDS) and rounds < MAX_ROUNDS:
            for status in await asyncio.gather(*(_send(session, base, c, limit) for c in a_round)):
                statuses[status] = statuses.get(status, 0) + 1
            rounds += 1
            async with session.get(base + "/metrics") as resp:
                missing = missing_evidence(await resp.text())
            enough = await asyncio.to_thread(scraped_enough)
    return TrafficReport(sum(statuses.values()), statuses, rounds, tuple(missing))
