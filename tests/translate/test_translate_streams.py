"""Stream translation event by event: block structure, finishes, usage, and in-band errors."""

from __future__ import annotations

from typing import Any

from router.translate import ResponseContext, StreamTranslator
from router.types import Api
from router.wire import translation
from tests.translate.sse_collectors import collect_anthropic, collect_openai, parse_frames

CTX = ResponseContext(served_model="prov/model", prompt_tokens=12)
BASE = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return BASE | {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def usage_chunk(prompt: int = 20, completion: int = 5) -> dict[str, Any]:
    return BASE | {
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def run(translator: StreamTranslator, events: list[dict[str, Any]], end: bool = True) -> list[bytes]:
    frames = [frame for event in events for frame in translator.feed(event)]
    return frames + (translator.finish() if end else [])


def to_anthropic(events: list[dict[str, Any]], end: bool = True) -> list[bytes]:
    return run(translation(Api.ANTHROPIC, Api.OPENAI).stream(CTX), events, end)


def names(frames: list[bytes]) -> list[str | None]:
    return [name for name, _ in parse_frames(frames)]


def tool(index: int, fragment: str, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": fragment}}
    if call_id:
        call |= {"id": call_id, "type": "function"}
        call["function"]["name"] = name
    return chunk({"tool_calls": [call]})


PARALLEL: list[dict[str, Any]] = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Checking "}),
    chunk({"content": "both."}),
    tool(0, "", "call_a", "get_weather"),
    tool(0, '{"city": '),
    tool(0, '"Paris"}'),
    tool(1, '{"tz"', "call_b", "get_time"),
    tool(1, ': "UTC"}'),
    chunk(finish="stop"),  # ollama-style: stop although tools were called
    usage_chunk(),
]


def test_parallel_tool_calls_get_their_own_blocks_and_tool_use() -> None:
    frames = to_anthropic(PARALLEL)
    events = parse_frames(frames)
    starts = [(d["index"], d["content_block"]["type"]) for n, d in events if n == "content_block_start"]
    assert starts == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert names(frames)[-2:] == ["message_delta", "message_stop"]
    message = collect_anthropic(frames)
    assert message["stop_reason"] == "tool_use"
    assert message["content"][0] == {"type": "text", "text": "Checking both."}
    assert [(b["id"], b["name"], b["input"]) for b in message["content"][1:]] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"tz": "UTC"}),
    ]
    assert message["usage"]["input_tokens"] == 20 and message["usage"]["output_tokens"] == 5
    assert message["model"] == "prov/model"


def test_message_start_carries_usage_before_any_upstream_count() -> None:
    (name, data), *_ = parse_frames(to_anthropic(PARALLEL[:2], end=False))
    assert name == "message_start"
    assert data["message"]["usage"]["input_tokens"] == 12
    assert data["message"]["stop_reason"] is None and data["message"]["content"] == []


def test_nothing_follows_message_stop() -> None:
    translator = translation(Api.ANTHROPIC, Api.OPENAI).stream(CTX)
    run(translator, PARALLEL, end=False)
    assert translator.feed(chunk({"content": "late"})) == []
    assert translator.finish() == [] and translator.fail("api_error", "x") == []


def test_eof_before_the_finish_is_an_error_not_end_turn() -> None:
    frames = to_anthropic(PARALLEL[:5])
    assert names(frames)[-1] == "error" and "message_delta" not in names(frames)
    assert collect_anthropic(frames)["error"]["type"] == "api_error"


def test_eof_after_the_finish_without_usage_ends_properly() -> None:
    message = collect_anthropic(to_anthropic([chunk({"content": "hi"}), chunk(finish="length")]))
    assert message["stop_reason"] == "max_tokens" and message["usage"]["input_tokens"] == 12


def test_content_arriving_with_the_finish_is_kept() -> None:
    message = collect_anthropic(to_anthropic([chunk({"content": "all at once"}, finish="stop")]))
    assert message["content"] == [{"type": "text", "text": "all at once"}]
    assert message["stop_reason"] == "end_turn"


def test_reasoning_then_text_become_thinking_then_text_blocks() -> None:
    events = [
        chunk({"reasoning_content": "let me "}),
        chunk({"reasoning": "think"}),
        chunk({"content": "answer"}),
        chunk(finish="stop"),
        usage_chunk(),
    ]
    message = collect_anthropic(to_anthropic(events))
    assert message["content"] == [
        {"type": "thinking", "thinking": "let me think", "signature": ""},
        {"type": "text", "text": "answer"},
    ]


def test_upstream_error_chunk_becomes_an_anthropic_error_event() -> None:
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    frames = to_anthropic([chunk({"content": "par"}), error, chunk({"content": "tial"})])
    assert names(frames) == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert collect_anthropic(frames)["error"] == {"type": "rate_limit_error", "message": "Rate limit reached"}


def test_fail_ends_an_anthropic_stream_in_band() -> None:
    translator = translation(Api.ANTHROPIC, Api.OPENAI).stream(CTX)
    translator.feed(chunk({"content": "x"}))
    frames = translator.fail("overloaded_error", "gone")
    assert collect_anthropic(frames)["error"] == {"type": "overloaded_error", "message": "gone"}


# --- Anthropic upstream, OpenAI client ------------------------------------------------------

START: dict[str, Any] = {
    "type": "message_start",
    "message": {
        "id": "msg_s",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    },
}
ANTHROPIC_EVENTS: list[dict[str, Any]] = [
    START,
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Sure."}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}},
    },
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"p": 1}'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 30},
    },
    {"type": "message_stop"},
]


def to_openai(events: list[dict[str, Any]], include_usage: bool, end: bool = True) -> list[bytes]:
    ctx = ResponseContext(served_model="prov/model", include_usage=include_usage)
    return run(translation(Api.OPENAI, Api.ANTHROPIC).stream(ctx), events, end)


def test_anthropic_stream_for_an_openai_client_with_usage() -> None:
    frames = to_openai(ANTHROPIC_EVENTS, include_usage=True, end=False)
    out = collect_openai(frames)
    assert out["content"] == "Sure." and out["finish_reason"] == "tool_calls"
    assert out["tool_calls"] == {0: {"id": "toolu_1", "name": "Read", "arguments": '{"p": 1}'}}
    assert out["usage"] == {
        "prompt_tokens": 9,
        "completion_tokens": 30,
        "total_tokens": 39,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    first = parse_frames(frames)[0][1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_no_usage_chunk_unless_asked() -> None:
    out = collect_openai(to_openai(ANTHROPIC_EVENTS, include_usage=False))
    assert "usage" not in out and out["finish_reason"] == "tool_calls"


def test_anthropic_error_event_becomes_an_error_chunk_then_done() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    frames = to_openai([*ANTHROPIC_EVENTS[:4], error, *ANTHROPIC_EVENTS[4:]], include_usage=True)
    assert frames[-1] == b"data: [DONE]\n\n"
    assert collect_openai(frames)["error"]["type"] == "overloaded_error"


def test_anthropic_eof_before_message_delta_is_an_error() -> None:
    out = collect_openai(to_openai(ANTHROPIC_EVENTS[:6], include_usage=True))
    assert out["error"]["type"] == "api_error"


def test_anthropic_eof_after_message_delta_finishes() -> None:
    out = collect_openai(to_openai(ANTHROPIC_EVENTS[:-1], include_usage=True))
    assert out["finish_reason"] == "tool_calls" and out["usage"]["completion_tokens"] == 30
