"""HTTP plumbing shared by the provider adapters: one pooled aiohttp session per provider, and
the mapping of every foreign failure (aiohttp, OS, JSON, HTTP status) into router.errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp
import orjson

from providers.ratelimits import quota_from_headers
from providers.sse import SSEDecoder
from providers.upstream_errors import classify, classify_stream_error
from router.errors import (
    BadResponse,
    StreamError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from router.types import JSON
from router.upstream import ProviderSettings, UpstreamReply

MAX_BODY_BYTES = 32 * 1024 * 1024  # a JSON answer bigger than this is not a chat completion
ERROR_BODY_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024

StreamCheck = Callable[[JSON], None]  # raises StreamError for an in-band error event


class Transport:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=settings.total_timeout_s, sock_connect=settings.connect_timeout_s,
            sock_read=settings.timeout_s,
        )

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily so that it binds to the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
                timeout=self._timeout,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(
        self, url: str, headers: Mapping[str, str], body: JSON, stream: bool, check: StreamCheck
    ) -> UpstreamReply:
        data = orjson.dumps(body)
        try:
            resp = await self._client().post(url, data=data, headers=headers)
        except BaseException as exc:
            raise _map(exc) from None
        try:
            now = time.time()
            if resp.status >= 300:
                raw = await _read_limited(resp, ERROR_BODY_BYTES, truncate=True)
                raise classify(resp.status, resp.headers, raw, now=now)
            quota = quota_from_headers(resp.headers, now)
            if stream and "text/event-stream" in resp.headers.get("Content-Type", ""):
                return UpstreamReply(resp.status, resp.headers, events=_events(resp, check),
                                     release=resp.release, quota=quota)
            # A JSON answer to a stream request is read whole; the proxy counts it as a
            # bad_response and fails over.
            raw = await _read_limited(resp, MAX_BODY_BYTES)
            resp.release()
            return UpstreamReply(resp.status, resp.headers, json=_json(raw), quota=quota)
        except BaseException as exc:
            resp.release()
            raise _map(exc) from None

    async def get(self, url: str, headers: Mapping[str, str]) -> None:
        try:
            async with self._client().get(url, headers=headers) as resp:
                if resp.status >= 300:
                    raw = await _read_limited(resp, ERROR_BODY_BYTES, truncate=True)
                    raise classify(resp.status, resp.headers, raw, now=time.time())
                await _read_limited(resp, MAX_BODY_BYTES)
        except BaseException as exc:
            raise _map(exc) from None


def _map(exc: BaseException) -> BaseException:
    """Foreign exceptions into the router's tree; ours and cancellation pass through."""
    if isinstance(exc, UpstreamError | asyncio.CancelledError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return UpstreamTimeout("the upstream did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return UpstreamConnectError(f"cannot connect to the upstream: {exc.__class__.__name__}")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return BadResponse("the upstream closed the connection before a complete answer")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return UpstreamConnectError(f"upstream connection failed: {exc.__class__.__name__}")
    return BadResponse(f"unusable upstream answer: {exc.__class__.__name__}")


def _json(raw: bytes) -> JSON:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadResponse("the upstream answered with something that is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadResponse("the upstream's JSON answer is not an object")
    return parsed


async def _read_limited(resp: aiohttp.ClientResponse, limit: int, truncate: bool = False) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.read(READ_CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            if truncate:
                parts.append(chunk[: limit - size + len(chunk)])
                return b"".join(parts)
            raise BadResponse(f"the upstream's answer is larger than {limit} bytes")
        parts.append(chunk)


async def _events(resp: aiohttp.ClientResponse, check: StreamCheck) -> AsyncIterator[JSON]:
    decoder = SSEDecoder()
    try:
        while True:
            try:
                chunk = await resp.content.readany()
            except BaseException as exc:
                mapped = _map(exc)
                if isinstance(mapped, BadResponse):
                    raise StreamError("the upstream stream broke off") from None
                raise mapped from None
            frames = decoder.feed(chunk) if chunk else decoder.flush()
            for _event, data in frames:
                if data == b"[DONE]":
                    return
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise StreamError("the upstream sent a malformed stream event") from None
                if not isinstance(event, dict):
                    raise StreamError("the upstream sent a stream event that is not an object")
                check(event)
                yield event
            if not chunk:
                return
    except ValueError as exc:  # the decoder's buffer limit
        raise StreamError(str(exc)) from None
    finally:
        resp.release()


def check_openai_event(event: JSON) -> None:
    if "error" in event:
        raise classify_stream_error(event)
    if not isinstance(event.get("choices", ()), list | tuple):
        raise StreamError("the upstream sent a malformed stream chunk")


def check_anthropic_event(event: JSON) -> None:
    if event.get("type") == "error":
        raise classify_stream_error(event)
