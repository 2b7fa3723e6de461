"""Steady client load through the proxy: concurrent clients alternating streamed and plain chat
completions, each request recorded with its timings and the replica that served it, so a test
can tell afterwards exactly which requests were in flight at a given moment and how each ended."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

# About a dozen words: the fake upstream streams one chunk per word of its echoed reply.
PROMPT = "please count slowly from one to nine: one two three four five six seven eight nine"
DONE = "[DONE]"
REQUEST_TIMEOUT_S = 60.0
# Clients start this far apart and ask for slightly different lengths, so they do not move in
# lockstep and requests start and end at every moment, as real traffic does.
STAGGER_S = 0.15


@dataclass(frozen=True, slots=True)
class Outcome:
    stream: bool
    started: float  # loop time the request was sent
    headers_at: float | None  # loop time the response headers arrived
    finished: float
    status: int | None
    served_by: str | None  # the last address in nginx's $upstream_addr
    tried: tuple[str, ...]  # every replica nginx tried, in order
    backend: str | None  # x-freerouter-backend
    complete: bool  # a full JSON answer, or a stream that ended with [DONE]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.complete and self.error is None

    def in_flight_at(self, moment: float) -> bool:
        return self.started <= moment < self.finished


@dataclass(slots=True)
class Load:
    """Shared by the clients of one run; only ever touched from the event loop's thread."""

    url: str
    clients: int = 8
    outcomes: list[Outcome] = field(default_factory=list)
    open_streams: Counter[str] = field(default_factory=Counter)
    streams_opened: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _notify(self) -> None:
        # Waiters re-check their own condition; a fresh Event per change keeps them edge-free.
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait, without polling, until condition() holds (re-checked on every change)."""
        while not condition():
            await self.changed.wait()

    async def run(self) -> list[Outcome]:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=self.clients, force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(self._client(n, session) for n in range(self.clients)))
        return self.outcomes

    async def _client(self, number: int, session: aiohttp.ClientSession) -> None:
        stream = number % 2 == 0
        prompt = PROMPT + " and on" * number
        await asyncio.sleep(number * STAGGER_S)
        while not self.stop.is_set():
            self.outcomes.append(await self._one(session, stream, prompt, f"load-{number}"))
            self._notify()
            stream = not stream

    async def _one(
        self, session: aiohttp.ClientSession, stream: bool, prompt: str, key: str
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        started = loop.time()
        body = {"model": "free", "stream": stream,
                "messages": [{"role": "user", "content": prompt}]}
        headers_at: float | None = None
        status: int | None = None
        served_by: str | None = None
        tried: tuple[str, ...] = ()
        backend: str | None = None
        try:
            async with session.post(self.url + "/v1/chat/completions", json=body,
                                    headers={"x-session-id": key}) as answer:
                headers_at = loop.time()
                status = answer.status
                tried = tuple(a.strip() for a in answer.headers.get("X-Upstream-Addr", "").split(",")
                              if a.strip())
                served_by = tried[-1] if tried else None
                backend = answer.headers.get("x-freerouter-backend")
                if stream and served_by is not None:
                    self.open_streams[served_by] += 1
                    self.streams_opened[served_by] += 1
                    self._notify()
                try:
                    complete = await (_read_stream(answer) if stream else _read_json(answer))
                finally:
                    if stream and served_by is not None:
                        self.open_streams[served_by] -= 1
            return Outcome(stream, started, headers_at, loop.time(), status, served_by, tried,
                           backend, complete)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return Outcome(stream, started, headers_at, loop.time(), status, served_by, tried,
                           backend, False, f"{type(exc).__name__}: {exc}")


async def _read_json(answer: aiohttp.ClientResponse) -> bool:
    body = await answer.json()
    return bool(body.get("choices")) and body["choices"][0]["message"]["content"] is not None


async def _read_stream(answer: aiohttp.ClientResponse) -> bool:
    """True when the SSE stream carried only chunks and ended with [DONE]."""
    last = None
    async for raw in answer.content:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        last = line.removeprefix("data:").strip()
        if last != DONE and "error" in json.loads(last):
            return False
    return last == DONE
