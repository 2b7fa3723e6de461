"""What every fake upstream shares: per-model behaviours (latency, pacing, failure rate,
reasoning, lingering), scripted and random faults, and the record of the requests it received."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from router.demo.token_limits import TokenMinute
from router.types import JSON

LINGER_POLL_S = 0.01  # how often a lingering stream looks whether the router hung up


@dataclass(frozen=True, slots=True)
class Behaviour:
    latency_s: float = 0.0  # before the answer's headers
    chunk_delay_s: float = 0.0  # between stream chunks (a token each, unless `chunks`)
    failure_rate: float = 0.0  # share of requests answered 500 (Anthropic: 529)
    chunks: int = 0  # join the reply's tokens into about this many chunks (0: one per token)
    reasoning: bool = False  # a reasoning model: thinks (reasoning_content) before it answers
    # after the last event, keep the connection open this long before closing it (as some
    # servers and proxies do): the router must end the client's stream without waiting
    linger_s: float = 0.0
    tpm: int = 0  # a tokens-per-minute limit enforced as Groq does (0: none)
    reports_usage: bool = True  # False: answers and streams say nothing of the tokens used


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, consumed by the next chat request (optionally per model)."""

    status: int = 500
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    kind: str = "status"  # status|hang|garbage|empty|truncate|stall|midstream_error|html|bad_event
    model: str | None = None


CHAOS = (
    Fault(status=500), Fault(status=503), Fault(status=429, headers={"Retry-After": "1"}),
    Fault(kind="garbage"), Fault(kind="html"), Fault(kind="empty"), Fault(kind="truncate"),
    Fault(kind="midstream_error"),
)


@dataclass(slots=True)
class Received:
    path: str
    headers: Mapping[str, str]
    body: JSON
    problems: list[str]


class ScriptedUpstream:
    """The base of the OpenAI and Anthropic fakes; subclasses say how their API words errors."""

    def __init__(
        self, behaviours: Mapping[str, Behaviour] | None = None, *, seed: int = 0,
        api_key: str | None = None, default: Behaviour | None = None, chaos: float = 0.0,
        tool_inputs: Mapping[str, JSON] | None = None,
    ) -> None:
        self.behaviours = dict(behaviours or {})
        self.default = default or Behaviour()
        self.chaos = chaos  # share of requests that get a random fault from CHAOS
        self.injected: Counter[str] = Counter()  # chaos faults given, by kind (GET /__stats)
        self.rng = random.Random(seed)
        self._pacing = random.Random(seed + 1)  # apart, so pacing never shifts the faults drawn
        self.api_key = api_key
        # scripted arguments per tool name, so that a real agent can run the call; else made
        # up from the tool's schema
        self.tool_inputs = dict(tool_inputs or {})
        self.faults: deque[Fault] = deque()
        self.received: list[Received] = []
        self.hang = asyncio.Event()  # hangs last until this is set (or the client gives up)
        self.cancelled = 0  # requests whose caller hung up while they were being answered
        self.lingered = 0  # streams that lingered after their last event
        self.released = 0  # ... and whose caller closed the connection while they lingered
        self.token_minutes: dict[str, TokenMinute] = {}  # per model with a `tpm`

    def token_minute(self, model: str) -> TokenMinute | None:
        """The model's tokens-per-minute limit, when its behaviour has one."""
        limit = self.behaviour(model).tpm
        if not limit:
            return None
        minute = self.token_minutes.get(model)
        if minute is None:
            minute = self.token_minutes[model] = TokenMinute(model, limit)
        return minute

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def behaviour(self, model: str) -> Behaviour:
        return self.behaviours.get(model, self.default)

    def _next_fault(self, model: str) -> Fault | None:
        for fault in self.faults:
            if fault.model in (None, model):
                self.faults.remove(fault)
                return fault
        if self.chaos and self.rng.random() < self.chaos:
            fault = self.rng.choice(CHAOS)
            self.injected[f"{fault.kind} {fault.status}" if fault.kind == "status" else fault.kind] += 1
            return fault
        return None

    def error_response(self, status: int, message: str) -> web.Response:
        """An error in this fake's API format."""
        raise NotImplementedError

    def fault_body(self, status: int) -> bytes:
        """The body of an injected error status that brought none of its own."""
        raise NotImplementedError

    async def _early_fault(self, fault: Fault) -> web.StreamResponse | None:
        """The answer for a fault that strikes before the first byte; None for stream faults."""
        if fault.kind == "status":
            body = fault.body if fault.body is not None else self.fault_body(fault.status)
            return web.Response(status=fault.status, body=body, headers=fault.headers,
                                content_type="application/json")
        if fault.kind == "hang":
            try:
                await self.hang.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            return self.error_response(500, "hang released")
        if fault.kind == "garbage":
            return web.Response(status=200, body=b"\x00not json{", content_type="application/json")
        if fault.kind == "html":
            return web.Response(status=502, body=b"<html><body>Bad gateway</body></html>",
                                content_type="text/html")
        return None

    async def _pace(self, behaviour: Behaviour) -> None:
        if behaviour.chunk_delay_s:
            # jittered, as tokens arrive from a real model: 50% to 150% of the mean delay
            await asyncio.sleep(behaviour.chunk_delay_s * (0.5 + self._pacing.random()))

    async def _linger(self, request: web.Request, behaviour: Behaviour) -> None:
        """Keep the finished stream's connection open, as a slow-closing server does, until
        the time is up or the router closes it."""
        if not behaviour.linger_s:
            return
        self.lingered += 1
        waited = 0.0
        while waited < behaviour.linger_s:
            transport = request.transport
            if transport is None or transport.is_closing():
                self.released += 1
                return
            await asyncio.sleep(LINGER_POLL_S)
            waited += LINGER_POLL_S
