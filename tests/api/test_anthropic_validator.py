"""The Anthropic fake's validator is what makes the cross-API tests mean something: it must
reject each thing the real Messages API rejects, and accept a full, valid request."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from router.demo.anthropic_validation import (
    MID_CONVERSATION_SYSTEM,
    STRUCTURED_OUTPUTS,
    validate_anthropic_request,
)

VALID: dict[str, Any] = {
    "model": "claude-sim", "max_tokens": 2048, "stream": True, "temperature": 1, "top_p": 0.95,
    "system": [{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
    "metadata": {"user_id": "u1"}, "stop_sequences": ["END"],
    "tools": [{"name": "get_weather", "description": "d",
               "input_schema": {"type": "object", "properties": {}}},
              {"type": "web_search_20250305", "name": "web_search"}],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
            {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hm", "signature": "sig_1"},
            {"type": "text", "text": "calling"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"a": 1}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "failed"}]},
            {"type": "text", "text": "go on"}]},
    ],
}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(key)


BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "missing max_tokens": _delete("max_tokens"),
    "max_tokens zero": _set(("max_tokens",), 0),
    "temperature above 1": _set(("temperature",), 1.5),
    "top_p above 1": _set(("top_p",), 2),
    "system role in messages": lambda b: b["messages"].insert(1, {"role": "system", "content": "x"}),
    "tool role": lambda b: b["messages"].append({"role": "tool", "content": "x"}),
    "empty text block": _set(("messages", 0, "content", 0, "text"), ""),
    "empty content": _set(("messages", 0, "content"), ""),
    "tool_use unanswered": lambda b: b["messages"].pop(),
    "tool_result not first": lambda b: b["messages"][2]["content"].reverse(),
    "tool_result for unknown id": _set(("messages", 2, "content", 0, "tool_use_id"), "toolu_9"),
    "bad tool id": _set(("messages", 1, "content", 2, "id"), "functions.Bash:0"),
    "input not an object": _set(("messages", 1, "content", 2, "input"), "{}"),
    "unsigned thinking": _set(("messages", 1, "content", 0, "signature"), ""),
    "first turn is assistant": lambda b: b["messages"].insert(
        0, {"role": "assistant", "content": "hi"}),
    "stream_options": _set(("stream_options",), {"include_usage": True}),
    "response_format": _set(("response_format",), {"type": "json_object"}),
    "OpenAI tool shape": _set(("tools", 0), {"type": "function", "function": {"name": "f"}}),
    "tool_choice string": _set(("tool_choice",), "auto"),
    "tool_choice tool without name": _set(("tool_choice",), {"type": "tool"}),
    "image_url part": _set(("messages", 0, "content", 1),
                           {"type": "image_url", "image_url": {"url": "https://e.com"}}),
    "unsupported media type": _set(("messages", 0, "content", 1, "source", "media_type"), "image/bmp"),
    "budget not below max_tokens": _set(("thinking", "budget_tokens"), 4096),
    "temperature beside thinking": _set(("temperature",), 0.5),
    "top_p below 0.95 beside thinking": _set(("top_p",), 0.9),
    "top_k beside thinking": _set(("top_k",), 5),
    "forced tool_choice beside thinking": _set(("tool_choice",), {"type": "any"}),
    "metadata with other keys": _set(("metadata",), {"user_id": "u", "tag": "x"}),
    "string stop_sequences": _set(("stop_sequences",), "END"),
    "n": _set(("n",), 1),
    "output format without a schema": _set(("output_config",), {"format": {"type": "json_schema"}}),
    "output_format without its beta": _set(("output_format",), {"type": "json_schema",
                                                               "schema": {"type": "object"}}),
}


def test_a_full_valid_request_passes() -> None:
    assert validate_anthropic_request(VALID) == []


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_breakage_is_rejected(breakage: str) -> None:
    body = copy.deepcopy(VALID)
    BREAKAGES[breakage](body)
    assert validate_anthropic_request(body) != []


def test_system_messages_pass_with_claude_codes_beta() -> None:
    body = copy.deepcopy(VALID)
    body["messages"].insert(0, {"role": "system", "content": "agent list"})
    assert validate_anthropic_request(body) != []
    assert validate_anthropic_request(body, frozenset({MID_CONVERSATION_SYSTEM})) == []


def test_structured_outputs_pass_in_both_spellings() -> None:
    schema = {"type": "json_schema", "schema": {"type": "object", "properties": {}}}
    body = {**copy.deepcopy(VALID), "output_config": {"format": schema, "effort": "high"}}
    assert validate_anthropic_request(body) == []
    older = {**copy.deepcopy(VALID), "output_format": schema}
    assert validate_anthropic_request(older, frozenset({STRUCTURED_OUTPUTS})) == []
