"""One exchange with an upstream's HTTP API over the transport seam: a JSON request whose answer is
a JSON body or an SSE stream, with every non-2xx answer classified (providers.upstream_errors)
and the answer's quota headers read, so the adapters only name their URLs and headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping

import orjson

from providers.http11 import Http11Transport
from providers.ratelimits import quota_from_headers
from providers.sse import SSEDecoder
from providers.transport import AsyncTransport, Timeouts, TransportResponse
from providers.upstream_errors import classify, classify_stream_error
from router.errors import BadResponse, StreamError
from router.types import JSON
from router.upstream import ProviderSettings, UpstreamReply

MAX_BODY_BYTES = 32 * 1024 * 1024  # a JSON answer bigger than this is not a chat completion
ERROR_BODY_BYTES = 64 * 1024

# Raises an UpstreamError for an in-band error event; the clock is read only then.
StreamCheck = Callable[[JSON, Callable[[], float]], None]


def transport_for(settings: ProviderSettings) -> AsyncTransport:
    """The real transport, with the provider's timeouts."""
    return Http11Transport(Timeouts(total_s=settings.total_timeout_s,
                                     connect_s=settings.connect_timeout_s,
                                     read_s=settings.timeout_s))


class Exchange:
    def __init__(self, transport: AsyncTransport, wall: Callable[[], float]) -> None:
        self._transport = transport
        self._wall = wall  # provider reset times and Retry-After dates are wall-clock

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def post(
        self, url: str, headers: Mapping[str, str], body: JSON, stream: bool, check: StreamCheck
    ) -> UpstreamReply:
        resp = await self._transport.request("POST", url, headers, orjson.dumps(body))
        try:
            now = self._wall()
            if resp.status >= 300:
                raw = await resp.read(ERROR_BODY_BYTES, truncate=True)
                raise classify(resp.status, resp.headers, raw, now=now)
            quota = quota_from_headers(resp.headers, now)
            if stream and "text/event-stream" in resp.headers.get("Content-Type", ""):
                return UpstreamReply(resp.status, resp.headers,
                                     batches=_batches(resp, check, self._wall),
                                     release=resp.release, quota=quota)
            # A JSON answer to a stream request is read whole; the proxy counts it as a
            # bad_response and fails over.
            raw = await resp.read(MAX_BODY_BYTES)
            resp.release()
            return UpstreamReply(resp.status, resp.headers, json=_json(raw), quota=quota)
        except BaseException:
            resp.release()
            raise

    async def get(self, url: str, headers: Mapping[str, str]) -> None:
        resp = await self._transport.request("GET", url, headers)
        try:
            if resp.status >= 300:
                raise classify(resp.status, resp.headers,
                               await resp.read(ERROR_BODY_BYTES, truncate=True), now=self._wall())
            await resp.read(MAX_BODY_BYTES)
        finally:
            resp.release()


def _json(raw: bytes) -> JSON:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadResponse("the upstream answered with something that is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadResponse("the upstream's JSON answer is not an object")
    return parsed


async def _batches(
    resp: TransportResponse, check: StreamCheck, wall: Callable[[], float]
) -> AsyncIterator[list[JSON]]:
    decoder = SSEDecoder()
    try:
        while True:
            try:
                chunk = await resp.chunk()
            except BadResponse:
                raise StreamError("the upstream stream broke off") from None
            frames = decoder.feed(chunk) if chunk else decoder.flush()
            batch: list[JSON] = []
            for _event, data in frames:
                if data == b"[DONE]":
                    if batch:
                        yield batch
                    return
                try:
                    batch.append(_event_of(data, check, wall))
                except Exception:
                    if batch:  # what came before the break is the client's all the same
                        yield batch
                    raise
            if batch:
                yield batch
            if not chunk:
                return
    except ValueError as exc:  # the decoder's buffer limit
        raise StreamError(str(exc)) from None
    finally:
        resp.release()


def _event_of(data: bytes, check: StreamCheck, wall: Callable[[], float]) -> JSON:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise StreamError("the upstream sent a malformed stream event") from None
    if not isinstance(event, dict):
        raise StreamError("the upstream sent a stream event that is not an object")
    check(event, wall)
    return event


def check_openai_event(event: JSON, wall: Callable[[], float]) -> None:
    if "error" in event:
        raise classify_stream_error(event, now=wall())
    if not isinstance(event.get("choices", ()), list | tuple):
        raise StreamError("the upstream sent a malformed stream chunk")


def check_anthropic_event(event: JSON, wall: Callable[[], float]) -> None:
    if event.get("type") == "error":
        raise classify_stream_error(event, now=wall())
