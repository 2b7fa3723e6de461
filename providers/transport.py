"""The one outbound HTTP seam. Every call the router makes (upstream requests, probes, discovery,
local-server checks, `freerouter status`) goes through an `AsyncTransport`, and every foreign
failure of the HTTP library is mapped, in one table, into router.errors: the library is named in
this module only, as httpx keeps httpcore behind its transports.

    AsyncTransport.request(...) -> TransportResponse      (raises UpstreamError subclasses)
    TransportResponse.read(limit) / .chunk() / .release()  (raise them too, mid-body)

`AiohttpTransport` is the real one (one pooled session, created on first use so that it binds to
the running loop); tests build a MockTransport from a function instead of patching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import aiohttp
from aiohttp import client_exceptions as ce

from router.errors import BadResponse, UpstreamConnectError, UpstreamError, UpstreamTimeout

READ_CHUNK = 64 * 1024


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


# -- the exception map ---------------------------------------------------------------------------

def _timeout(_: BaseException) -> UpstreamError:
    return UpstreamTimeout("the upstream did not answer in time")


def _connect(exc: BaseException) -> UpstreamError:
    return UpstreamConnectError(f"cannot connect to the upstream: {exc.__class__.__name__}")


def _broken(exc: BaseException) -> UpstreamError:
    return UpstreamConnectError(f"upstream connection failed: {exc.__class__.__name__}")


def _cut(_: BaseException) -> UpstreamError:
    return BadResponse("the upstream closed the connection before a complete answer")


def _unusable(exc: BaseException) -> UpstreamError:
    return BadResponse(f"unusable upstream answer: {exc.__class__.__name__}")


# Looked up along the exception's MRO, so the most specific entry wins. Every exception aiohttp's
# client exports has an entry of its own or a deliberate ancestor's (a test holds this).
_MAP: Mapping[type[BaseException], Callable[[BaseException], UpstreamError]] = MappingProxyType({
    ce.ServerTimeoutError: _timeout,  # also ConnectionTimeoutError, SocketTimeoutError
    TimeoutError: _timeout,
    ce.ClientConnectorError: _connect,  # DNS, refused, TLS, proxy
    ce.ServerFingerprintMismatch: _connect,
    ce.InvalidURL: _connect,
    ce.NonHttpUrlClientError: _connect,
    ce.RedirectClientError: _connect,
    ce.ServerDisconnectedError: _cut,
    ce.ClientPayloadError: _cut,
    ce.ClientConnectionResetError: _cut,
    ce.UploadAbortedError: _broken,
    ce.ClientOSError: _broken,
    ce.ServerConnectionError: _broken,
    ce.ClientConnectionError: _broken,
    ce.ClientResponseError: _unusable,  # ContentTypeError, proxy and handshake errors
    ce.WSMessageTypeError: _unusable,
    ce.ClientError: _unusable,
    ConnectionError: _broken,
    OSError: _broken,
    Exception: _unusable,
})


def map_exception(exc: BaseException) -> BaseException:
    """A foreign exception as the router's; ours, cancellation and BaseExceptions pass as they are."""
    if isinstance(exc, UpstreamError | asyncio.CancelledError) or not isinstance(exc, Exception):
        return exc
    for klass in type(exc).__mro__:
        mapped = _MAP.get(klass)
        if mapped is not None:
            return mapped(exc)
    return _unusable(exc)  # unreachable: Exception is in the table


# -- aiohttp -------------------------------------------------------------------------------------

class _AiohttpResponse:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self, limit: int, *, truncate: bool = False) -> bytes:
        parts: list[bytes] = []
        size = 0
        content = self._resp.content
        try:
            while True:
                chunk = await content.read(READ_CHUNK)
                if not chunk:
                    return b"".join(parts)
                size += len(chunk)
                if size > limit:
                    if truncate:
                        parts.append(chunk[: limit - size + len(chunk)])
                        return b"".join(parts)
                    raise BadResponse(f"the upstream's answer is larger than {limit} bytes")
                parts.append(chunk)
        except BaseException as exc:
            raise map_exception(exc) from None

    async def chunk(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except BaseException as exc:
            raise map_exception(exc) from None

    def release(self) -> None:
        self._resp.release()


class AiohttpTransport:
    def __init__(self, timeouts: Timeouts = Timeouts()) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=timeouts.total_s, sock_connect=timeouts.connect_s, sock_read=timeouts.read_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300,
                                               enable_cleanup_closed=True),
                timeout=self._timeout, auto_decompress=True, skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> TransportResponse:
        try:
            resp = await self._client().request(method, url, headers=headers, data=body,
                                                params=params)
        except BaseException as exc:
            raise map_exception(exc) from None
        return _AiohttpResponse(resp)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
