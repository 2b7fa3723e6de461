"""Non-streaming answers and relayed errors between the APIs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.translate import ResponseContext
from router.translate.ids import anthropic_tool_id
from router.types import Api
from router.wire import translation

CTX = ResponseContext(served_model="groq/llama", tool_names={"mcp_x_1234abcd": "mcp.x"})


def anthropic_answer(**changes: Any) -> dict[str, Any]:
    body = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "mcp_x_1234abcd", "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 2,
            "output_tokens": 7,
        },
    }
    return body | changes


def test_anthropic_answer_for_an_openai_client() -> None:
    out = translation(Api.OPENAI, Api.ANTHROPIC).response(anthropic_answer(), CTX)
    assert out["object"] == "chat.completion" and out["id"] == "chatcmpl-msg_01"
    assert out["model"] == "groq/llama" and isinstance(out["created"], int)
    (choice,) = out["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check." and message["reasoning_content"] == "hmm"
    assert [(c["id"], c["function"]["name"]) for c in message["tool_calls"]] == [
        ("toolu_1", "get_weather"),
        ("toolu_2", "mcp.x"),
    ]
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert out["usage"] == {
        "prompt_tokens": 17,
        "completion_tokens": 7,
        "total_tokens": 24,
        "prompt_tokens_details": {"cached_tokens": 5},
    }


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_stop_reasons_become_finish_reasons(stop: str, finish: str) -> None:
    body = anthropic_answer(stop_reason=stop, content=[{"type": "text", "text": "x"}])
    out = translation(Api.OPENAI, Api.ANTHROPIC).response(body, CTX)
    assert out["choices"][0]["finish_reason"] == finish
    assert "tool_calls" not in out["choices"][0]["message"]


def openai_answer(finish: str | None = "tool_calls", **message: Any) -> dict[str, Any]:
    msg = {
        "role": "assistant",
        "content": "Checking.",
        "reasoning_content": "think",
        "tool_calls": [
            {
                "id": "functions.get_weather:0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {"id": "", "type": "function", "function": {"name": "mcp_x_1234abcd", "arguments": "{"}},
        ],
    } | message
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1,
        "model": "llama",
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 4,
            "total_tokens": 34,
            "prompt_tokens_details": {"cached_tokens": 10},
        },
    }


def test_openai_answer_for_an_anthropic_client() -> None:
    out = translation(Api.ANTHROPIC, Api.OPENAI).response(openai_answer(finish="stop"), CTX)
    assert out["type"] == "message" and out["role"] == "assistant" and out["model"] == "groq/llama"
    assert out["id"] == "msg_chatcmpl-9"
    assert out["stop_reason"] == "tool_use"  # a tool was called though the upstream said stop
    assert out["stop_sequence"] is None
    thinking, text, weather, other = out["content"]
    assert thinking == {"type": "thinking", "thinking": "think", "signature": ""}
    assert text == {"type": "text", "text": "Checking."}
    assert weather == {
        "type": "tool_use",
        "id": anthropic_tool_id("functions.get_weather:0"),
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert other["name"] == "mcp.x" and other["input"] == {} and other["id"].startswith("toolu_")
    assert out["usage"] == {
        "input_tokens": 20,
        "output_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
    }


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")],
)
def test_finish_reasons_become_stop_reasons(finish: str | None, stop: str) -> None:
    body = openai_answer(finish=finish, tool_calls=None, reasoning_content=None)
    out = translation(Api.ANTHROPIC, Api.OPENAI).response(body, CTX)
    assert out["stop_reason"] == stop
    assert out["content"] == [{"type": "text", "text": "Checking."}]


def test_refusal_and_missing_usage() -> None:
    body = openai_answer(finish="content_filter", content=None, tool_calls=None, refusal="No.")
    del body["usage"]
    ctx = ResponseContext(served_model="m", prompt_tokens=99)
    out = translation(Api.ANTHROPIC, Api.OPENAI).response(body, ctx)
    assert out["content"][-1] == {"type": "text", "text": "No."} and out["stop_reason"] == "refusal"
    assert out["usage"]["input_tokens"] == 99 and out["usage"]["output_tokens"] == 0


def test_anthropic_error_for_an_openai_client() -> None:
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad tools"},
        "request_id": "req_1",
    }
    assert translation(Api.OPENAI, Api.ANTHROPIC).error(body) == {
        "error": {
            "message": "bad tools",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request_error",
        }
    }


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (
            {
                "error": {
                    "message": "too long",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
            "invalid_request_error",
            "too long",
        ),
        (
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
            "rate_limit_error",
            "slow down",
        ),
        ({"error": "plain string"}, "invalid_request_error", "plain string"),
        ({"detail": "validation failed"}, "invalid_request_error", "validation failed"),
        ({"object": "error", "message": "vllm style"}, "invalid_request_error", "vllm style"),
    ],
)
def test_openai_errors_for_an_anthropic_client(body: dict[str, Any], kind: str, message: str) -> None:
    assert translation(Api.ANTHROPIC, Api.OPENAI).error(body) == {
        "type": "error",
        "error": {"type": kind, "message": message},
    }
