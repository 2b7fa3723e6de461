"""Closed-loop load generator: a fixed number of workers, each sending its next request
as soon as the previous one completes.

Measures requests/s, latency p50/p99 and, for SSE streams, the time to the first
*content* chunk (not merely the first byte) and content chunks/s. Also holds many
streams open at once to measure memory under open connections.

Run: ``python -m bench.loadgen --url http://127.0.0.1:8080 -c 16 -d 5 [--stream]``
(prints one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import aiohttp
import orjson

from bench import eventloop
from bench.stats import percentile

ApiName = Literal["openai", "anthropic"]  # what an upstream speaks
ClientApiName = Literal["openai", "anthropic", "responses"]  # what a client speaks

API_PATHS: dict[ClientApiName, str] = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages",
                                       "responses": "/v1/responses"}
_TEXT = "Say hello in one short sentence."
_PROMPT = [{"role": "user", "content": _TEXT}]
_API_HEADERS: dict[ClientApiName, tuple[tuple[str, str], ...]] = {
    "openai": (("Content-Type", "application/json"),),
    "anthropic": (("Content-Type", "application/json"), ("anthropic-version", "2023-06-01")),
    "responses": (("Content-Type", "application/json"),),
}


def _openai_body(model: str, stream: bool) -> dict[str, object]:
    body: dict[str, object] = {"model": model, "messages": _PROMPT, "max_tokens": 64}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def _anthropic_body(model: str, stream: bool) -> dict[str, object]:
    body: dict[str, object] = {"model": model, "messages": _PROMPT, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return body


def _responses_body(model: str, stream: bool) -> dict[str, object]:
    # `store` left to its default (true), as the SDKs send it: the stored answer is part of the cost
    body: dict[str, object] = {"model": model, "input": _TEXT, "max_output_tokens": 64}
    if stream:
        body["stream"] = True
    return body


_BODIES: dict[ClientApiName, Callable[[str, bool], dict[str, object]]] = {
    "openai": _openai_body,
    "anthropic": _anthropic_body,
    "responses": _responses_body,
}


def _openai_has_content(event: Any) -> bool:
    choices = event.get("choices") if isinstance(event, dict) else None
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content"))


def _anthropic_has_content(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("type") != "content_block_delta":
        return False
    return bool((event.get("delta") or {}).get("text"))


def _responses_has_content(event: Any) -> bool:
    return isinstance(event, dict) and event.get("type") == "response.output_text.delta" and bool(
        event.get("delta"))


_CONTENT_TESTS: dict[ClientApiName, Callable[[Any], bool]] = {
    "openai": _openai_has_content,
    "anthropic": _anthropic_has_content,
    "responses": _responses_has_content,
}


@dataclass(frozen=True)
class Workload:
    """What every request of a run looks like."""

    url: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    stream: bool
    api: ClientApiName


def workload(
    base_url: str,
    api: ClientApiName,
    model: str,
    stream: bool,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> Workload:
    """A request to ``base_url`` (scheme://host:port[/prefix]) in ``api``'s wire format."""
    return Workload(
        url=base_url.rstrip("/") + API_PATHS[api],
        body=orjson.dumps(_BODIES[api](model, stream)),
        headers=_API_HEADERS[api] + extra_headers,
        stream=stream,
        api=api,
    )


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    window_s: float
    requests: int
    errors: int
    rps: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    ttfc_p50_ms: float | None = None
    ttfc_p99_ms: float | None = None
    chunks_per_s: float | None = None
    chunks_per_stream: float | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Window:
    """The measured interval: requests that complete inside it are counted and sampled.

    Counting by completion time (not start time) keeps slow servers honest: with a
    latency near the window's length almost no request would both start and end
    inside it.
    """

    start: float
    end: float

    def contains(self, finished: float) -> bool:
        return self.start <= finished <= self.end


@dataclass
class _Samples:
    latencies: list[float] = field(default_factory=list)
    ttfcs: list[float] = field(default_factory=list)
    chunks: int = 0
    completions_in_window: int = 0
    errors: int = 0


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    first_content_s: float | None = None
    content_chunks: int = 0


class BadAnswer(Exception):
    """The server answered, but not with a successful completion."""


async def _read_stream(
    response: aiohttp.ClientResponse,
    api: ClientApiName,
    began: float,
    on_first: Callable[[], None] | None,
) -> _Outcome:
    has_content = _CONTENT_TESTS[api]
    first: float | None = None
    count = 0
    async for line in response.content:
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            continue
        if has_content(orjson.loads(payload)):
            count += 1
            if first is None:
                first = time.perf_counter() - began
                if on_first is not None:
                    on_first()
    return _Outcome(ok=count > 0, first_content_s=first, content_chunks=count)


async def _request(
    session: aiohttp.ClientSession, work: Workload, on_first: Callable[[], None] | None = None
) -> _Outcome:
    began = time.perf_counter()
    async with session.post(work.url, data=work.body, headers=work.headers) as response:
        if response.status != 200:
            await response.read()
            raise BadAnswer(f"status {response.status}")
        if work.stream:
            return await _read_stream(response, work.api, began, on_first)
        return _Outcome(ok=bool(await response.read()))


_REQUEST_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, BadAnswer, orjson.JSONDecodeError)


async def _worker(session: aiohttp.ClientSession, work: Workload, window: Window, samples: _Samples) -> None:
    while time.perf_counter() < window.end:
        began = time.perf_counter()
        try:
            outcome = await _request(session, work)
        except _REQUEST_ERRORS:
            outcome = _Outcome(ok=False)
        finished = time.perf_counter()
        if not window.contains(finished):
            continue
        if not outcome.ok:
            samples.errors += 1
            continue
        samples.completions_in_window += 1
        samples.latencies.append(finished - began)
        samples.chunks += outcome.content_chunks
        if outcome.first_content_s is not None:
            samples.ttfcs.append(outcome.first_content_s)


def _session(timeout_s: float | None) -> aiohttp.ClientSession:
    # limit=0: the worker count is the only bound on concurrency.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=False,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


async def run_load(
    work: Workload,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    on_window_start: Callable[[], None] | None = None,
    on_window_end: Callable[[], None] | None = None,
) -> LoadResult:
    """Drive ``concurrency`` workers for ``warmup_s + duration_s`` and measure the window.

    ``on_window_start`` and ``on_window_end`` run when the measured window opens and
    closes (e.g. to sample the server's memory and CPU time).
    """
    samples = _Samples()
    async with _session(timeout_s=30.0) as session:
        now = time.perf_counter()
        window = Window(start=now + warmup_s, end=now + warmup_s + duration_s)
        loop = asyncio.get_running_loop()
        if on_window_start is not None:
            loop.call_later(warmup_s, on_window_start)
        if on_window_end is not None:
            loop.call_later(warmup_s + duration_s, on_window_end)
        workers = [_worker(session, work, window, samples) for _ in range(concurrency)]
        await asyncio.gather(*workers)
    completed = samples.completions_in_window
    streamed = work.stream and completed > 0
    return LoadResult(
        concurrency=concurrency,
        window_s=duration_s,
        requests=completed,
        errors=samples.errors,
        rps=completed / duration_s,
        latency_p50_ms=_ms(percentile(samples.latencies, 0.50)),
        latency_p99_ms=_ms(percentile(samples.latencies, 0.99)),
        ttfc_p50_ms=_ms(percentile(samples.ttfcs, 0.50)),
        ttfc_p99_ms=_ms(percentile(samples.ttfcs, 0.99)),
        chunks_per_s=samples.chunks / duration_s if streamed else None,
        chunks_per_stream=samples.chunks / completed if streamed else None,
    )


async def prime(work: Workload) -> bool:
    """Send one request and say whether it succeeded.

    Some servers import or build things lazily on their first request (LiteLLM's
    first answer takes over a second); that belongs to start-up, not to warm-up.
    """
    async with _session(timeout_s=60.0) as session:
        try:
            return (await _request(session, work)).ok
        except _REQUEST_ERRORS:
            return False


@dataclass(frozen=True)
class HoldResult:
    requested: int
    opened: int
    seconds_to_open: float
    probe: int | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


async def hold_streams(
    work: Workload, count: int, open_timeout_s: float, probe: Callable[[], int | None]
) -> HoldResult:
    """Open ``count`` streams; once each has delivered a content chunk (or the timeout
    passes) call ``probe`` while they are all still open, then drop them."""
    opened = 0
    all_open = asyncio.Event()

    def note_first() -> None:
        nonlocal opened
        opened += 1
        if opened == count:
            all_open.set()

    async def one_stream(session: aiohttp.ClientSession) -> None:
        try:
            await _request(session, work, on_first=note_first)
        except _REQUEST_ERRORS:
            return

    async with _session(timeout_s=None) as session:
        began = time.perf_counter()
        tasks = [asyncio.create_task(one_stream(session)) for _ in range(count)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_open.wait(), open_timeout_s)
        took = time.perf_counter() - began
        seen = probe()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return HoldResult(requested=count, opened=opened, seconds_to_open=took, probe=seen)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="scheme://host:port; the API path is appended")
    parser.add_argument("--api", choices=sorted(API_PATHS), default="openai")
    parser.add_argument("--model", default="free")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args(argv)
    work = workload(args.url, args.api, args.model, args.stream)
    result = eventloop.run(run_load(work, args.concurrency, args.duration, args.warmup))
    sys.stdout.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
