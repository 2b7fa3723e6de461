"""The provider seam: what the proxy hands a provider adapter, and what it gets back.

A provider adapter owns one upstream's wire details (URL paths, auth headers, SSE framing, error
bodies) and nothing else: no retries, health, metrics or translation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from router.clock import SystemClock
from router.records import record
from router.types import JSON, Backend


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    base_url: str  # the API's paths are appended: /chat/completions, /messages, /models
    api_key: str | None
    timeout_s: float  # first byte, and every gap between stream chunks
    connect_timeout_s: float
    total_timeout_s: float | None = None  # the whole exchange, streams included
    # Epoch seconds, for provider reset times and Retry-After dates (the injected clock's).
    wall: Callable[[], float] = field(default_factory=lambda: SystemClock().wall)


@record
class UpstreamRequest:
    backend: Backend
    body: JSON  # already in the upstream's wire format, `model` set to the upstream's id
    stream: bool
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. anthropic-beta


@record
class Quota:
    """What an upstream's rate-limit headers say is left, parsed by its provider adapter (each
    provider names them its own way); None where it sends nothing. Instants are epoch seconds."""

    requests_remaining: int | None = None
    requests_reset_epoch: float | None = None
    tokens_remaining: int | None = None
    tokens_reset_epoch: float | None = None
    day_remaining: int | None = None
    day_reset_epoch: float | None = None
    requests_limit: int | None = None  # what requests_remaining counts down from
    day_limit: int | None = None
    tokens_limit: int | None = None  # what tokens_remaining counts down from (per minute)


@dataclass(slots=True)
class UpstreamReply:
    """A successful (2xx) answer whose headers have arrived. Exactly one of `json` and
    `batches` is set. `batches` yields, per read from the upstream, the parsed JSON of each SSE
    data line that read completed (so that a relay writes once per read, not once per event),
    and raises StreamError / UpstreamTimeout when the stream breaks, after yielding the events
    that came before the break."""

    status: int
    headers: Mapping[str, str]
    json: JSON | None = None
    batches: AsyncIterator[list[JSON]] | None = None
    release: Callable[[], None] | None = None  # frees the connection, even if never iterated
    quota: Quota | None = None  # what the answer's rate-limit headers say is left

    async def aclose(self) -> None:
        if self.batches is not None:
            close = getattr(self.batches, "aclose", None)
            if close is not None:
                await close()
        if self.release is not None:
            self.release()


class Provider(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamReply:
        """Send one request. Raises an UpstreamError subclass for every failure before the
        first byte of the answer (connect, timeout, non-2xx status, malformed body)."""
        ...

    async def probe(self) -> None:
        """A cheap liveness check costing no tokens; raises UpstreamError on failure."""
        ...

    async def aclose(self) -> None: ...


class ProviderFactory(Protocol):
    """What the `freerouter.providers` entry points name (keyed by the config's `api`)."""

    def __call__(self, settings: ProviderSettings) -> Provider: ...
