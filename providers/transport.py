"""The one outbound HTTP seam. Every call the router makes (upstream requests, probes, discovery,
local-server checks, `freerouter status`) goes through an `AsyncTransport`, and every failure
arrives as one of router.errors, never as a foreign exception.

    AsyncTransport.request(...) -> TransportResponse      (raises UpstreamError subclasses)
    TransportResponse.read(limit) / .chunk() / .release()  (raise them too, mid-body)

`providers.http11.Http11Transport` is the real one (pooled keep-alive connections, created on
first use so that they bind to the running loop); tests build a MockTransport from a function
instead of patching."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Timeouts:
    total_s: float | None = None  # the whole exchange, body included
    connect_s: float | None = None
    read_s: float | None = None  # the first byte, and every gap between reads


class TransportResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        """The whole body; past `limit` bytes BadResponse, or the first `limit` if `truncate`."""
        ...

    async def chunk(self) -> bytes:
        """The next bytes of the body as they arrive; b"" once it has ended."""
        ...

    def release(self) -> None:
        """Free the connection (closing it if the body was not read to its end)."""
        ...


class AsyncTransport(Protocol):
    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> TransportResponse: ...

    async def aclose(self) -> None: ...
