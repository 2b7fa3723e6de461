"""Responses API translation case by case: requests for a chat backend and an Anthropic one,
field by field (what Codex, the Agents SDK and the AI SDK send: tool kinds, tool choices, text
formats, reasoning, items of every type, and what is dropped), and answers and streams in the
shapes the properties do not draw (arguments sent whole, custom tools streamed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.demo.anthropic_validation import validate_anthropic_request
from router.demo.openai_validation import validate_openai_request
from router.translate import ResponseContext
from router.types import Api
from router.wire import translation
from tests.translate.sse_collectors import collect_responses, parse_frames

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}, "strict": True}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}}
AGENTS = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
          "tools": [{"type": "function", "name": "spawn_agent",
                     "parameters": {"type": "object", "properties": {"task": {"type": "string"}}}}]}
HOSTED = [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["v"]},
          {"type": "image_generation"}, {"type": "local_shell"}, {"type": "mcp", "server_label": "x"},
          {"type": "code_interpreter", "container": {"type": "auto"}}, {"type": "tool_search"}]


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    out = translation(Api.RESPONSES, Api.OPENAI).request({"model": "free", **body}).body
    assert validate_openai_request(out) == []
    return out


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    out = translation(Api.RESPONSES, Api.ANTHROPIC).request({"model": "free", **body}).body
    assert validate_anthropic_request({"max_tokens": 4096, **out}) == []
    return out


def test_a_string_input_is_one_user_message_after_the_instructions() -> None:
    out = to_chat({"input": "hello", "instructions": "Be terse.", "stream": True})
    assert out["messages"] == [{"role": "system", "content": "Be terse."},
                               {"role": "user", "content": "hello"}]
    assert out["stream"] is True


def test_system_and_developer_items_lead_the_prompt_as_one_system_message() -> None:
    out = to_chat({"instructions": "A.", "input": [
        {"role": "developer", "content": "B."},
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "C."}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"role": "user", "content": "again"}]})
    assert out["messages"] == [{"role": "system", "content": "A.\n\nB.\n\nC."},
                               {"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "hello"},
                               {"role": "user", "content": "again"}]


def test_images_and_files_become_parts_and_file_ids_are_dropped() -> None:
    out = to_chat({"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"},
        {"type": "input_image", "file_id": "file-1"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
        {"type": "input_file", "file_id": "file-2"}]}]})
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}]
    blocks = to_anthropic({"input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "https://img.example/a.png"}]}]})["messages"][0]["content"]
    assert blocks == [{"type": "image", "source": {"type": "url", "url": "https://img.example/a.png"}}]


def test_tools_function_custom_and_namespace_are_offered_flat_and_the_rest_dropped() -> None:
    out = to_chat({"input": "hi", "tools": [WEATHER, PATCH, AGENTS, *HOSTED]})
    functions = [t["function"] for t in out["tools"]]
    assert [f["name"] for f in functions] == ["get_weather", "apply_patch", "multi_agent_v1__spawn_agent"]
    assert functions[0] == {"name": "get_weather", "description": "Weather in a city",
                            "parameters": WEATHER["parameters"], "strict": True}
    assert functions[1]["parameters"] == {
        "type": "object", "required": ["input"],
        "properties": {"input": {"type": "string", "description": "The input, as free-form text."}}}
    grammar = functions[1]["description"]
    assert "lark grammar" in grammar and "start: begin_patch" in grammar
    assert functions[2]["description"] == "Sub-agents."
    anthropic = to_anthropic({"input": "hi", "tools": [WEATHER, PATCH, AGENTS, *HOSTED]})
    assert [t["name"] for t in anthropic["tools"]] == [f["name"] for f in functions]


def test_only_hosted_tools_means_no_tools_and_no_choice() -> None:
    out = to_chat({"input": "hi", "tools": HOSTED, "tool_choice": {"type": "web_search"},
                   "parallel_tool_calls": False})
    assert "tools" not in out and "tool_choice" not in out and "parallel_tool_calls" not in out


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", "auto"), ("none", "none"), ("required", "required"),
    ({"type": "function", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ({"type": "custom", "name": "apply_patch"}, {"type": "function", "function": {"name": "apply_patch"}}),
    ({"type": "function", "name": "spawn_agent", "namespace": "multi_agent_v1"},
     {"type": "function", "function": {"name": "multi_agent_v1__spawn_agent"}}),
    ({"type": "web_search"}, None),
])
def test_tool_choice(choice: Any, expected: Any) -> None:
    out = to_chat({"input": "hi", "tools": [WEATHER, PATCH, AGENTS], "tool_choice": choice,
                   "parallel_tool_calls": False})
    assert out.get("tool_choice") == expected
    assert out["parallel_tool_calls"] is False


def test_allowed_tools_offers_only_those() -> None:
    out = to_chat({"input": "hi", "tools": [WEATHER, PATCH], "tool_choice": {
        "type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]}})
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather"]
    assert out["tool_choice"] == "required"
    anthropic = to_anthropic({"input": "hi", "tools": [WEATHER], "tool_choice": {
        "type": "function", "name": "get_weather"}, "parallel_tool_calls": False})
    assert anthropic["tool_choice"] == {"type": "tool", "name": "get_weather",
                                        "disable_parallel_tool_use": True}


def test_tool_history_pairs_by_call_id_and_custom_input_is_wrapped() -> None:
    out = to_chat({"tools": [WEATHER, PATCH, AGENTS], "input": [
        {"role": "user", "content": "weather, patch and an agent"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "On it."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin"},
        {"type": "function_call", "call_id": "call_3", "name": "spawn_agent",
         "namespace": "multi_agent_v1", "arguments": ""},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "patched"},
        {"type": "function_call_output", "call_id": "call_1", "output": [
            {"type": "input_text", "text": "sunny"},
            {"type": "input_image", "image_url": "https://img.example/sky.png"}]},
        {"type": "function_call_output", "call_id": "call_3", "output": "spawned"},
        {"type": "function_call_output", "call_id": "call_9", "output": "an answer to nothing"},
        {"type": "local_shell_call", "call_id": "ls_1", "action": {"type": "exec", "command": ["ls"]}},
        {"type": "local_shell_call_output", "call_id": "ls_1", "output": "a b"},
    ]})
    messages = out["messages"]
    assert messages[1] == {"role": "assistant", "content": "On it.", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "apply_patch",
                                                           "arguments": '{"input":"*** Begin"}'}},
        {"id": "call_3", "type": "function", "function": {"name": "multi_agent_v1__spawn_agent",
                                                           "arguments": "{}"}}]}
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "call_2", "content": "patched"},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://img.example/sky.png"}}]},
        {"role": "tool", "tool_call_id": "call_3", "content": "spawned"}]
    anthropic = to_anthropic({"tools": [WEATHER, PATCH], "input": [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]})
    assert anthropic["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert anthropic["messages"][2]["content"][0]["tool_use_id"] == "call_1"


def test_text_formats() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    out = to_chat({"input": "hi", "text": {"format": {"type": "json_schema", "name": "Report",
                                                      "schema": schema, "strict": True}, "verbosity": "low"}})
    assert out["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "Report", "schema": schema, "strict": True}}
    assert "verbosity" not in out
    assert to_chat({"input": "hi", "text": {"format": {"type": "json_object"}}})["response_format"] == {
        "type": "json_object"}
    assert "response_format" not in to_chat({"input": "hi", "text": {"format": {"type": "text"}}})
    anthropic = to_anthropic({"input": "hi", "text": {"format": {"type": "json_schema", "name": "R",
                                                                  "schema": schema}}})
    assert anthropic["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_sampling_reasoning_and_who_asks() -> None:
    out = to_chat({"input": "hi", "max_output_tokens": 99, "temperature": 0.3, "top_p": 0.9,
                   "reasoning": {"effort": "high", "summary": "auto"}, "safety_identifier": "alice",
                   "user": "old", "prompt_cache_key": "k", "metadata": {"a": "b"}, "store": False,
                   "include": ["reasoning.encrypted_content"], "truncation": "auto",
                   "service_tier": "flex", "background": False, "some_future_field": {"x": 1}})
    assert {k: v for k, v in out.items() if k != "messages"} == {
        "model": "free", "max_tokens": 99, "temperature": 0.3, "top_p": 0.9,
        "reasoning_effort": "high", "user": "alice"}
    assert to_chat({"input": "hi", "user": "old", "safety_identifier": "alice"})["user"] == "alice", \
        "the newer name wins in either order"
    anthropic = to_anthropic({"input": "hi", "max_output_tokens": 8000,
                              "reasoning": {"effort": "medium"}, "user": "bob"})
    assert anthropic["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert anthropic["max_tokens"] == 8000 and anthropic["metadata"] == {"user_id": "bob"}
    small = to_anthropic({"input": "hi", "max_output_tokens": 50, "reasoning": {"effort": "low"}})
    assert small["max_tokens"] == 50 and "thinking" not in small, "max_output_tokens is a ceiling"


def test_a_codex_shaped_request(codex_request: dict[str, Any]) -> None:
    out = to_chat(codex_request)
    assert out["messages"][0]["role"] == "system" and "coding agent" in out["messages"][0]["content"]
    assert out["messages"][-1] == {"role": "user", "content": "Run ls."}
    assert {t["function"]["name"] for t in out["tools"]} == {
        "exec_command", "multi_agent_v1__spawn_agent"}
    to_anthropic(codex_request)


@pytest.fixture
def codex_request() -> dict[str, Any]:
    """The shape Codex 0.17x sends (clients.md §5): developer items, no instructions."""
    return {
        "model": "free", "stream": True, "store": False, "tool_choice": "auto",
        "parallel_tool_calls": True, "reasoning": {"summary": "auto"},
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "01a2-b3",
        "client_metadata": {"x": "y"},
        "tools": [{"type": "function", "name": "exec_command", "strict": False,
                   "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                                  "required": ["cmd"]}},
                  {**AGENTS}, {"type": "web_search", "external_web_access": False}],
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "You are a coding agent."}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Run ls."}]}],
    }


def test_answers_name_the_client_tools_and_echo_the_request() -> None:
    request = {"model": "free", "input": "hi", "tools": [WEATHER, PATCH, AGENTS], "store": False,
               "instructions": "Be terse.", "metadata": {"k": "v"}, "max_output_tokens": 50,
               "temperature": 0.5, "previous_response_id": "resp_prev"}
    ctx = ResponseContext(served_model="oai/gpt", answer_id="abc", created=7, request=request)
    calls = [{"id": f"call_{k}", "type": "function", "function": {"name": name, "arguments": args}}
             for k, (name, args) in enumerate([("get_weather", '{"city":"Oslo"}'),
                                               ("apply_patch", '{"input":"*** Begin\\n"}'),
                                               ("multi_agent_v1__spawn_agent", "")])]
    body = {"id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Doing it.", "tool_calls": calls}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 2}}}
    got = translation(Api.RESPONSES, Api.OPENAI).response(body, ctx)
    assert got["output"] == [
        {"type": "message", "id": "msg_abc_0", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Doing it.", "annotations": [], "logprobs": []}]},
        {"type": "function_call", "id": "fc_abc_1", "call_id": "call_0", "name": "get_weather",
         "arguments": '{"city":"Oslo"}', "status": "completed"},
        {"type": "custom_tool_call", "id": "ctc_abc_2", "call_id": "call_1", "name": "apply_patch",
         "input": "*** Begin\n", "status": "completed"},
        {"type": "function_call", "id": "fc_abc_3", "call_id": "call_2", "name": "spawn_agent",
         "arguments": "{}", "status": "completed", "namespace": "multi_agent_v1"}]
    assert got["usage"] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
                            "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
                            "output_tokens_details": {"reasoning_tokens": 2}}
    assert (got["id"], got["model"], got["created_at"], got["status"]) == (
        "resp_abc", "oai/gpt", 7, "completed")
    assert (got["instructions"], got["metadata"], got["store"], got["max_output_tokens"]) == (
        "Be terse.", {"k": "v"}, False, 50)
    assert got["previous_response_id"] == "resp_prev" and got["tools"] == request["tools"]
    json.dumps(got)


def test_echoed_parameters_of_the_wrong_shape_show_as_their_defaults() -> None:
    """Every parameter the response repeats under a shape check, sent with another shape."""
    default = translation(Api.RESPONSES, Api.OPENAI).response(
        {"choices": [{"message": {"content": "hi"}}]}, ResponseContext(served_model="m", answer_id="a"))
    odd = {"instructions": 3, "previous_response_id": ["x"], "reasoning": "high", "text": {},
           "tools": "all", "user": 5, "safety_identifier": {}, "prompt_cache_key": 1.5,
           "metadata": ["k"]}
    ctx = ResponseContext(served_model="m", answer_id="a", request=odd)
    got = translation(Api.RESPONSES, Api.OPENAI).response(
        {"choices": [{"message": {"content": "hi"}}]}, ctx)
    assert {k: got[k] for k in odd} == {k: default[k] for k in odd}
    assert default["reasoning"] == {"effort": None, "summary": None} and default["tools"] == []
    sent = {"parallel_tool_calls": False, "store": False, "tool_choice": "required", "top_p": 0.5}
    got = translation(Api.RESPONSES, Api.OPENAI).response(
        {"choices": [{"message": {"content": "hi"}}]},
        ResponseContext(served_model="m", answer_id="a", request=sent))
    assert {k: got[k] for k in sent} == sent


def test_a_length_stop_is_incomplete() -> None:
    ctx = ResponseContext(served_model="ant/c", answer_id="z")
    body = {"id": "m", "type": "message", "content": [{"type": "text", "text": "cut"}],
            "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 9}}
    got = translation(Api.RESPONSES, Api.ANTHROPIC).response(body, ctx)
    assert got["status"] == "incomplete" and got["incomplete_details"] == {"reason": "max_output_tokens"}
    empty = dict(body, content=[], stop_reason="end_turn")
    assert translation(Api.RESPONSES, Api.ANTHROPIC).response(empty, ctx)["output"] == []


def test_arguments_sent_whole_in_a_block_start_are_kept() -> None:
    """Some servers put a tool's input in content_block_start and send no input_json_delta."""
    request = {"model": "free", "input": "go", "tools": [WEATHER, PATCH]}
    ctx = ResponseContext(served_model="ant/c", answer_id="w", request=request)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}},
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_2", "name": "apply_patch", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {
            "type": "input_json_delta", "partial_json": '{"input": "*** Be'}},
        {"type": "content_block_delta", "index": 1, "delta": {
            "type": "input_json_delta", "partial_json": 'gin"}'}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"}]
    translator = translation(Api.RESPONSES, Api.ANTHROPIC).stream(ctx)
    frames = [f for e in events for f in translator.feed(e)]
    got = collect_responses(frames)
    assert [(i["type"], i.get("arguments"), i.get("input")) for i in got["output"]] == [
        ("function_call", '{"city":"Oslo"}', None), ("custom_tool_call", None, "*** Begin")]
    names = [name for name, _ in parse_frames(frames)]
    assert "response.custom_tool_call_input.done" in names
    assert names.count("response.function_call_arguments.delta") == 1  # the whole input, once


def test_chat_tool_calls_interleaved_by_index_stay_whole() -> None:
    request = {"model": "free", "input": "go", "tools": [WEATHER]}
    ctx = ResponseContext(served_model="oai/g", answer_id="i", request=request)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def call(index: int, arguments: str, ident: str | None = None) -> dict[str, Any]:
        head: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if ident:
            head |= {"id": ident, "type": "function"}
            head["function"]["name"] = "get_weather"
        return chunk({"tool_calls": [head]})

    chunks = [chunk({"role": "assistant", "content": ""}), call(0, '{"city":', "call_a"),
              call(1, '{"city":', "call_b"), call(0, '"Oslo"}'), call(1, '"Rome"}'),
              chunk({}, "tool_calls")]
    translator = translation(Api.RESPONSES, Api.OPENAI).stream(ctx)
    got = collect_responses([f for c in chunks for f in translator.feed(c)] + translator.finish())
    assert [(i["call_id"], i["arguments"]) for i in got["output"]] == [
        ("call_a", '{"city":"Oslo"}'), ("call_b", '{"city":"Rome"}')]
    assert got["usage"]["input_tokens"] == 0 and got["status"] == "completed"  # no usage chunk came


@pytest.mark.parametrize(("upstream", "event", "code", "failed_code"), [
    (Api.OPENAI, {"error": {"message": "busy", "type": "server_error"}}, "server_error",
     "server_error"),
    (Api.OPENAI, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
     "rate_limit_exceeded", "rate_limit_exceeded"),
    (Api.ANTHROPIC, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
     "overloaded_error", "server_error"),
    (Api.ANTHROPIC, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
     "rate_limit_error", "rate_limit_exceeded"),
])
def test_a_failed_response_carries_one_of_openais_error_codes(
        upstream: Api, event: dict[str, Any], code: str, failed_code: str) -> None:
    """The `error` event says what happened in the upstream's words; `response.failed` gives
    a code from OpenAI's own list (the SDK's model has it; Codex retries on these two)."""
    ctx = ResponseContext(served_model="p/m", answer_id="a" * 22)
    stream = translation(Api.RESPONSES, upstream).stream(ctx)
    first = ({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
             if upstream is Api.OPENAI else {"type": "message_start", "message": {"id": "m"}})
    got = collect_responses(stream.feed(first) + stream.feed(event))  # strict: the SDK's models
    assert got["error"]["code"] == code and got["failed"]["error"]["code"] == failed_code


def test_a_failure_before_anything_else_still_opens_the_stream() -> None:
    stream = translation(Api.RESPONSES, Api.OPENAI).stream(
        ResponseContext(served_model="p/m", answer_id="b" * 22))
    frames = stream.fail("upstream_error", "the upstream sent an unusable stream event")
    assert [name for name, _ in parse_frames(frames)] == [
        "response.created", "response.in_progress", "error", "response.failed"]
    assert collect_responses(frames)["failed"]["error"]["code"] == "server_error"
