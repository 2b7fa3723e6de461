"""The exchange over the transport seam classifies answers, reads streams and releases the
connection whatever happens (driven by a MockTransport, no socket; the real transport's own
failure modes are tests/providers/test_http11.py's)."""

from __future__ import annotations

import orjson
import pytest

from providers.openai_compat import OpenAIProvider
from router.errors import (
    BadResponse,
    RateLimited,
    StreamError,
    UpstreamServerError,
)
from router.types import Api, Backend
from router.upstream import ProviderSettings, UpstreamRequest
from tests.mock_transport import Handler, MockResponse, MockTransport, Sent

NOW = 1_800_000_000.0
BACKEND = Backend("p/m", "p", "m", Api.OPENAI, frozenset(), 8192)


def _provider(handler: Handler) -> tuple[OpenAIProvider, MockTransport]:
    transport = MockTransport(handler)
    settings = ProviderSettings("p", "http://upstream/v1", "sk-upstream", 5.0, 5.0,
                                wall=lambda: NOW)
    return OpenAIProvider(settings, transport), transport


ANSWER = {"id": "c", "object": "chat.completion", "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                       "finish_reason": "stop"}]}


async def test_a_json_answer_is_read_whole_and_released() -> None:
    response = MockResponse(200, {"Content-Type": "application/json"},
                            [orjson.dumps(ANSWER)[:10], orjson.dumps(ANSWER)[10:]])
    provider, transport = _provider(lambda sent: response)
    reply = await provider.send(UpstreamRequest(BACKEND, {"model": "m", "messages": []}, False))
    assert reply.json == ANSWER and response.released
    (sent,) = transport.sent
    assert (sent.method, sent.url) == ("POST", "http://upstream/v1/chat/completions")
    assert sent.headers["Authorization"] == "Bearer sk-upstream"


async def test_a_429_is_classified_with_its_hint_and_released() -> None:
    response = MockResponse(429, {"Retry-After": "7"}, [b'{"error": {"message": "slow"}}'])
    provider, _ = _provider(lambda sent: response)
    with pytest.raises(RateLimited) as err:
        await provider.send(UpstreamRequest(BACKEND, {"model": "m"}, False))
    assert err.value.retry_after_s == 7 and response.released


async def test_a_body_that_breaks_off_is_mapped_and_released() -> None:
    response = MockResponse(200, {}, [b'{"id": ', BadResponse("cut")])
    provider, _ = _provider(lambda sent: response)
    with pytest.raises(BadResponse):
        await provider.send(UpstreamRequest(BACKEND, {"model": "m"}, False))
    assert response.released


async def test_a_stream_is_read_in_batches_and_an_in_band_error_classified() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
    error = {"error": {"code": 502, "message": "provider died"}}
    response = MockResponse(200, {"Content-Type": "text/event-stream"}, [
        b"data: " + orjson.dumps(chunk) + b"\n\ndata: " + orjson.dumps(error) + b"\n\n"])
    provider, _ = _provider(lambda sent: response)
    reply = await provider.send(UpstreamRequest(BACKEND, {"model": "m"}, True))
    assert reply.batches is not None
    # The read carried both: the chunk before the error is yielded, then the error raised.
    assert await anext(reply.batches) == [chunk]
    with pytest.raises(UpstreamServerError):
        await anext(reply.batches)
    assert response.released


async def test_each_read_is_one_batch_of_the_events_it_completed() -> None:
    def frame(n: int) -> bytes:
        return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": str(n)}}]})

    # Three events in the first read, the third finished by the second read, and [DONE].
    response = MockResponse(200, {"Content-Type": "text/event-stream"}, [
        frame(1) + b"\n\n" + frame(2) + b"\n\n" + frame(3)[:9],
        frame(3)[9:] + b"\n\n" + frame(4) + b"\n\ndata: [DONE]\n\n"])
    provider, _ = _provider(lambda sent: response)
    reply = await provider.send(UpstreamRequest(BACKEND, {"model": "m"}, True))
    assert reply.batches is not None
    contents = [[e["choices"][0]["delta"]["content"] for e in batch]
                async for batch in reply.batches]
    assert contents == [["1", "2"], ["3", "4"]]
    assert response.released


async def test_a_stream_cut_mid_body_is_a_stream_error() -> None:
    response = MockResponse(200, {"Content-Type": "text/event-stream"},
                            [b'data: {"choices": []}\n\n', BadResponse("cut")])
    provider, _ = _provider(lambda sent: response)
    reply = await provider.send(UpstreamRequest(BACKEND, {"model": "m"}, True))
    assert reply.batches is not None
    assert await anext(reply.batches) == [{"choices": []}]
    with pytest.raises(StreamError):
        await anext(reply.batches)


async def test_probe_is_a_get_of_models() -> None:
    seen: list[Sent] = []

    def handler(sent: Sent) -> MockResponse:
        seen.append(sent)
        return MockResponse(200, {}, [b'{"data": []}'])

    provider, transport = _provider(handler)
    await provider.probe()
    await provider.aclose()
    assert (seen[0].method, seen[0].url) == ("GET", "http://upstream/v1/models")
    assert transport.closed
