"""Request translation on realistic bodies: a Claude Code request to an OpenAI backend, and
OpenAI SDK requests (parallel tool calls, images) to an Anthropic backend."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from router.translate.ids import anthropic_tool_id, short_tool_name
from router.types import Api
from router.wire import translation

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"
TOOL_NAMES = [
    "Agent",
    "Bash",
    "Edit",
    "Read",
    "Write",
    "WebFetch",
    "WebSearch",
    "TaskCreate",
    "TaskGet",
    "TaskList",
    "TaskUpdate",
    "TaskOutput",
    "TaskStop",
    "CronCreate",
    "CronDelete",
    "CronList",
    "Skill",
    "Glob",
    "Grep",
    "NotebookEdit",
    "TodoWrite",
    "ExitPlanMode",
    "AskUserQuestion",
    "mcp__some-server__a.tool.name.that.is.far.too.long.for.an.openai.function.name",
]


def claude_code_request() -> dict[str, Any]:
    tools = [
        {
            "name": name,
            "description": f"The {name} tool.",
            "input_schema": {
                "$schema": SCHEMA_URL,
                "type": "object",
                "properties": {"arg": {"type": "integer", "maximum": 9007199254740991}},
                "required": ["arg"],
                "additionalProperties": False,
            },
        }
        for name in TOOL_NAMES
    ]
    cache = {"type": "ephemeral"}
    return {
        "model": "claude-opus-4-8",
        "max_tokens": 64000,
        "stream": True,
        "system": [
            {
                "type": "text",
                "text": "x-anthropic-billing-header: cc_version=2.1.197.1c0;",
                "cache_control": cache,
            },
            {
                "type": "text",
                "text": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
                "cache_control": cache,
            },
            {"type": "text", "text": "Main prompt: be helpful.", "cache_control": cache},
        ],
        "messages": [
            {"role": "system", "content": "Available agent types: general-purpose."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "Read hello.txt", "cache_control": cache},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "I should read it.", "signature": "c2ln"},
                    {"type": "text", "text": "Reading."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01A",
                        "name": "Read",
                        "input": {"file_path": "/w/hello.txt"},
                    },
                    {"type": "tool_use", "id": "toolu_01B", "name": TOOL_NAMES[-1], "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "also this"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01A",
                        "content": "hello world",
                        "is_error": False,
                        "cache_control": cache,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01B",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "no such server"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                            },
                        ],
                    },
                ],
            },
        ],
        "tools": tools,
        "metadata": {"user_id": json.dumps({"device_id": "d1", "account_uuid": "", "session_id": "s1"})},
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
    }


def test_claude_code_request_becomes_a_plain_openai_request() -> None:
    out = translation(Api.ANTHROPIC, Api.OPENAI).request(claude_code_request())
    body = out.body
    assert set(body) == {"model", "messages", "max_tokens", "stream", "stream_options", "tools", "user"}
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 64000
    assert json.loads(body["user"])["session_id"] == "s1"
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "user"]
    system = body["messages"][0]["content"]
    assert "cc_version" in system and "Main prompt" in system and "agent types" in system
    assert body["messages"][1]["content"] == "<system-reminder>ctx</system-reminder>\nRead hello.txt"
    assistant = body["messages"][2]
    assert assistant["content"] == "Reading."
    assert "reasoning_content" not in assistant  # thinking is dropped for OpenAI backends
    short = short_tool_name(TOOL_NAMES[-1])
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["Read", short]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"file_path": "/w/hello.txt"}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "toolu_01A", "content": "hello world"}
    assert body["messages"][4]["content"] == "Error: no such server"
    # the image from the tool result and the user's own text follow the tool messages
    assert body["messages"][5]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
        {"type": "text", "text": "also this"},
    ]
    assert len(body["tools"]) == 24
    names = [t["function"]["name"] for t in body["tools"]]
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n) for n in names)
    assert out.tool_names == {short: TOOL_NAMES[-1]}
    assert body["tools"][0]["function"]["parameters"]["$schema"] == SCHEMA_URL  # left as is
    assert "cache_control" not in json.dumps(body)


def test_anthropic_tool_choice_and_sampling_map_to_openai() -> None:
    request = claude_code_request()
    request.update(
        tool_choice={"type": "tool", "name": TOOL_NAMES[-1], "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        temperature=0.3,
        top_p=0.9,
        top_k=5,
        stream=False,
        output_config={"effort": "low", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        tools=[*request["tools"], {"type": "web_search_20250305", "name": "web_search"}],
    )
    body = translation(Api.ANTHROPIC, Api.OPENAI).request(request).body
    assert body["tool_choice"] == {"type": "function", "function": {"name": short_tool_name(TOOL_NAMES[-1])}}
    assert body["parallel_tool_calls"] is False
    assert body["stop"] == ["END"] and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert "top_k" not in body and "stream_options" not in body
    assert len(body["tools"]) == 24  # the server tool has no function form
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }


@pytest.mark.parametrize(
    ("anthropic", "openai"),
    [({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none")],
)
def test_named_tool_choices(anthropic: dict[str, Any], openai: str) -> None:
    request = claude_code_request() | {"tool_choice": anthropic}
    assert translation(Api.ANTHROPIC, Api.OPENAI).request(request).body["tool_choice"] == openai


def openai_sdk_request() -> dict[str, Any]:
    return {
        "model": "free",
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these images, and the weather?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://img.example/cat.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "functions.get_weather:0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {"id": "call_B", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_B", "content": "12:00"},
            {
                "role": "tool",
                "tool_call_id": "functions.get_weather:0",
                "content": [{"type": "text", "text": "sunny"}],
            },
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
            {"type": "function", "function": {"name": "get_time"}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_completion_tokens": 500,
        "max_tokens": 100,
        "temperature": 1.7,
        "stop": "STOP",
        "n": 1,
        "seed": 3,
        "presence_penalty": 0.5,
        "logprobs": False,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
        "metadata": {"k": "v"},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}},
        },
    }


def test_openai_sdk_request_becomes_an_anthropic_request() -> None:
    out = translation(Api.OPENAI, Api.ANTHROPIC).request(openai_sdk_request())
    body = out.body
    assert set(body) == {
        "model",
        "system",
        "messages",
        "max_tokens",
        "temperature",
        "stop_sequences",
        "tools",
        "tool_choice",
        "output_config",
        "metadata",
        "stream",
    }
    assert body["max_tokens"] == 500 and body["temperature"] == 1.0 and body["stop_sequences"] == ["STOP"]
    assert body["system"] == [{"type": "text", "text": "Be terse."}]
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["tools"][1] == {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    user, assistant, results = body["messages"]
    assert [b["source"] for b in user["content"][1:]] == [
        {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
        {"type": "url", "url": "https://img.example/cat.png"},
    ]
    weather_id = anthropic_tool_id("functions.get_weather:0")
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", weather_id)
    assert assistant["content"] == [  # the empty text is dropped, arguments are parsed
        {"type": "tool_use", "id": weather_id, "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_B", "name": "get_time", "input": {}},
    ]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_B", "content": "12:00"},
        {"type": "tool_result", "tool_use_id": weather_id, "content": "sunny"},
        {"type": "text", "text": "thanks"},
    ]


def test_tool_ids_are_rewritten_the_same_way_on_every_replay() -> None:
    first = translation(Api.OPENAI, Api.ANTHROPIC).request(openai_sdk_request()).body
    second = translation(Api.OPENAI, Api.ANTHROPIC).request(copy.deepcopy(openai_sdk_request())).body
    assert first["messages"] == second["messages"]
    assert anthropic_tool_id("a.b") != anthropic_tool_id("a:b")  # distinct ids stay distinct


def test_openai_reasoning_effort_becomes_thinking_with_an_unforced_choice() -> None:
    request = openai_sdk_request() | {"reasoning_effort": "medium", "max_completion_tokens": 3000}
    body = translation(Api.OPENAI, Api.ANTHROPIC).request(request).body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 3000, "a ceiling, never raised for the budget"
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "temperature" not in body


def test_a_ceiling_too_small_for_thinking_leaves_it_off() -> None:
    request = openai_sdk_request() | {"reasoning_effort": "high", "max_completion_tokens": 1000}
    body = translation(Api.OPENAI, Api.ANTHROPIC).request(request).body
    assert "thinking" not in body and body["max_tokens"] == 1000
    plain = translation(Api.OPENAI, Api.ANTHROPIC).request(openai_sdk_request()).body
    assert {k: v for k, v in body.items() if k != "max_tokens"} == {
        k: v for k, v in plain.items() if k != "max_tokens"}, "sampling and tool choice as asked"
    fitted = translation(Api.OPENAI, Api.ANTHROPIC).request(
        openai_sdk_request() | {"reasoning_effort": "high", "max_completion_tokens": 1500}).body
    assert fitted["thinking"]["budget_tokens"] == 1499 and fitted["max_tokens"] == 1500


def test_openai_history_with_empty_ids_and_assistant_first_still_pairs() -> None:
    request = {
        "model": "free",
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "", "type": "function", "function": {"name": "f", "arguments": "not json"}}
                ],
            },
            {"role": "tool", "tool_call_id": "", "content": "done"},
        ],
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    body = translation(Api.OPENAI, Api.ANTHROPIC).request(request).body
    opening, assistant, results = body["messages"]
    assert opening["role"] == "user" and "max_tokens" not in body
    (use,) = assistant["content"]
    assert use["input"] == {}
    assert results["content"][0]["tool_use_id"] == use["id"]
    assert "JSON" in body["system"][0]["text"]


def test_documents_travel_both_ways() -> None:
    pdf = "data:application/pdf;base64,JVBERi0x"
    request = {
        "model": "free",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"filename": "a.pdf", "file_data": pdf}},
                    {"type": "file", "file": {"file_id": "file-123"}},  # OpenAI storage: cannot travel
                    {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
                    {"type": "text", "text": "summarise"},
                ],
            }
        ],
    }
    body = translation(Api.OPENAI, Api.ANTHROPIC).request(request).body
    document, text = body["messages"][0]["content"]
    assert document == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    }
    back = {
        "model": "free",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    document,
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                    },
                    text,
                ],
            }
        ],
    }
    (message,) = translation(Api.ANTHROPIC, Api.OPENAI).request(back).body["messages"]
    assert message["content"] == [
        {"type": "file", "file": {"filename": "document.pdf", "file_data": pdf}},
        {"type": "text", "text": "notes"},
        {"type": "text", "text": "summarise"},
    ]


def test_consecutive_assistant_tool_calls_are_answered_in_one_user_turn() -> None:
    request = {
        "model": "free",
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "assistant", "tool_calls": [{"id": "b", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": {}}}}],
    }
    body = translation(Api.OPENAI, Api.ANTHROPIC).request(request).body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert [b["tool_use_id"] for b in body["messages"][2]["content"]] == ["a", "b"]
    assert body["tools"][0]["input_schema"] == {"type": "object", "properties": {}}
