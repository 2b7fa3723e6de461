"""A fast fake LLM upstream on loopback: OpenAI Chat Completions and Anthropic Messages.

Every answer is serialised once at startup so the upstream spends as little CPU
as possible per request; what the benchmark measures is whatever sits between
the client and this process.

Paths (``/slow`` prefix: the same API, but streams pace their chunks so that
many streams stay open at once):

* ``POST /v1/chat/completions``: a ~380-byte ``chat.completion``, or with
  ``"stream": true`` a role chunk, 20 content chunks, a finish chunk, a usage
  chunk and ``data: [DONE]``.
* ``POST /v1/messages``: an Anthropic ``message``, or an SSE stream with
  ``message_start``, one text block of 20 deltas, ``message_delta`` and
  ``message_stop``.
* ``GET /v1/models``: an OpenAI model list.

Run: ``python -m bench.upstream --port 0`` (prints ``READY <port>``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from bench import eventloop
from bench.serve import serve_until_stopped

CONTENT_CHUNKS = 20
MODEL = "bench-model"
_CREATED = 1_700_000_000
_TOKEN = "tok "
# Filler so the non-streaming body is ~380 bytes, the size peers measure with.
_ANSWER = "This is a fixed benchmark answer from the fake upstream, padded to about the usual size."


def _sse_data(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _sse_event(name: str, payload: object) -> bytes:
    return b"event: " + name.encode() + b"\n" + _sse_data(payload)


def _openai_chunk(delta: dict[str, str], finish: str | None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_completion() -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": _CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _ANSWER},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52},
            "system_fingerprint": None,
        }
    )


def openai_stream() -> tuple[bytes, ...]:
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": CONTENT_CHUNKS, "total_tokens": 32},
    }
    return (
        _sse_data(_openai_chunk({"role": "assistant", "content": ""}, None)),
        *(_sse_data(_openai_chunk({"content": _TOKEN}, None)) for _ in range(CONTENT_CHUNKS)),
        _sse_data(_openai_chunk({}, "stop")),
        _sse_data(usage),
        b"data: [DONE]\n\n",
    )


def anthropic_message() -> bytes:
    return orjson.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": _ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 40},
        }
    )


def anthropic_stream() -> tuple[bytes, ...]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": _TOKEN},
    }
    return (
        _sse_event("message_start", start),
        _sse_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        *(_sse_event("content_block_delta", delta) for _ in range(CONTENT_CHUNKS)),
        _sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": CONTENT_CHUNKS},
            },
        ),
        _sse_event("message_stop", {"type": "message_stop"}),
    )


def model_list() -> bytes:
    return orjson.dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": _CREATED, "owned_by": "bench"}],
        }
    )


@dataclass(frozen=True)
class Answer:
    """One API's pre-serialised replies."""

    body: bytes
    stream: tuple[bytes, ...]


@dataclass(frozen=True)
class Pacing:
    """Delay between stream events after the first content event (0: write at once)."""

    interval_s: float


_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _wants_stream(request: web.Request) -> bool:
    body = await request.read()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.get("stream") is True


def _completion_handler(answer: Answer, pacing: Pacing) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if not await _wants_stream(request):
            return web.Response(body=answer.body, content_type="application/json")
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        # The first two events (role/start and first content) go out at once so a
        # paced stream is "open with a first chunk" as soon as possible.
        try:
            for index, event in enumerate(answer.stream):
                if pacing.interval_s > 0 and index >= 2:
                    await asyncio.sleep(pacing.interval_s)
                await response.write(event)
            await response.write_eof()
        except ConnectionResetError:
            # The client hung up mid-stream (the open-streams scenario does so on
            # purpose); nothing is left to send.
            pass
        return response

    return handle


def _models_handler(body: bytes) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    return handle


def make_app(slow_interval_s: float = 1.0, gap_s: float = 0.0) -> web.Application:
    openai = Answer(openai_completion(), openai_stream())
    anthropic = Answer(anthropic_message(), anthropic_stream())
    models = model_list()
    app = web.Application()
    for prefix, pacing in (("", Pacing(gap_s)), ("/slow", Pacing(slow_interval_s))):
        app.router.add_post(f"{prefix}/v1/chat/completions", _completion_handler(openai, pacing))
        app.router.add_post(f"{prefix}/v1/messages", _completion_handler(anthropic, pacing))
        app.router.add_get(f"{prefix}/v1/models", _models_handler(models))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument(
        "--slow-interval", type=float, default=1.0, help="seconds between paced events under /slow"
    )
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=0.0,
        help="pause between stream events after the first content event (default: none)",
    )
    args = parser.parse_args(argv)
    app = make_app(args.slow_interval, args.gap_ms / 1000.0)
    eventloop.run(serve_until_stopped(app, args.host, args.port))


if __name__ == "__main__":
    main()
