"""Hypothesis properties of the Responses API translation: a conversation of Responses items
reaches either upstream API with its text, images and tool-call pairs, in a body the strict
validators accept; an upstream stream translated event by event collects (through every rule
of a Responses stream) to the translated whole answer, tool kinds and namespaces included."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from router.demo.anthropic_validation import validate_anthropic_request
from router.demo.openai_validation import validate_openai_request
from router.translate import ResponseContext
from router.translate.responses_tools import ToolTable
from router.types import Api
from router.wire import translation
from tests.translate.sse_collectors import collect_responses, parse_frames
from tests.translate.test_translate_properties import (
    TEXT,
    _all_images,
    _all_texts,
    _anthropic_upstream,
    _image_url,
    _openai_upstream,
    _source,
    answers,
    conversations,
)

KINDS = st.sampled_from(["function", "custom", "namespace"])
NAMESPACE = "agents"


def _as_responses(conv: dict[str, Any]) -> dict[str, Any]:
    """The neutral conversation as Responses input items (reasoning items sprinkled in, and
    a hosted tool's call that has no place on a chat backend)."""
    items: list[dict[str, Any]] = [{"type": "message", "role": "system", "content": t}
                                   for t in conv["system"]]
    for turn in conv["turns"]:
        if turn["role"] == "user":
            parts = [{"type": "input_text", "text": t} for t in turn["texts"]]
            parts += [{"type": "input_image", "image_url": _image_url(i), "detail": "auto"}
                      for i in turn["images"]]
            items.append({"role": "user", "content": parts})  # EasyInputMessage: no `type`
            continue
        items.append({"type": "reasoning", "id": "rs_1", "summary": [],
                      "encrypted_content": "opaque"})
        if turn["texts"]:
            items.append({"type": "message", "role": "assistant", "id": "msg_x", "status": "completed",
                          "content": [{"type": "output_text", "text": " ".join(turn["texts"]),
                                       "annotations": []}]})
        items += [{"type": "function_call", "call_id": cid, "name": name,
                   "arguments": json.dumps(args), "id": f"fc_{cid}"}
                  for cid, name, args, _, _ in turn["calls"]]
        items.append({"type": "web_search_call", "id": "ws_1", "status": "completed"})
        results = [{"type": "function_call_output", "call_id": c[0], "output": c[3]}
                   for c in turn["calls"]]
        conv["order"].shuffle(results)
        items += results
        items += [{"type": "message", "role": "developer", "content": t} for t in conv["inner_system"]]
    names = {c[1] for t in conv["turns"] for c in t.get("calls", ())}
    tools = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in sorted(names)]
    return {"model": "free", "input": items, "tools": [*tools, {"type": "web_search"}],
            "instructions": "Be brief.", "store": True, "include": ["reasoning.encrypted_content"]}


@given(conversations())
@settings(max_examples=40, deadline=None)
def test_responses_request_to_chat_keeps_text_images_and_pairs(conv: dict[str, Any]) -> None:
    body = translation(Api.RESPONSES, Api.OPENAI).request(_as_responses(conv)).body
    assert validate_openai_request(body) == []
    messages = body["messages"]
    assert messages[0] == {"role": "system", "content": messages[0]["content"]}
    assert messages[0]["content"].startswith("Be brief.")
    assert "system" not in [m["role"] for m in messages[1:]], "system texts lead, once"
    blob: list[str] = []
    urls: list[str] = []
    for message in messages:
        content = message.get("content")
        blob += [content] if isinstance(content, str) else [p.get("text", "") for p in content or ()]
        urls += [p["image_url"]["url"] for p in content or () if isinstance(content, list)
                 and p["type"] == "image_url"]
    joined = "\n".join(blob)
    assert all(text in joined for text in _all_texts(conv))
    assert urls == [_image_url(i) for i in _all_images(conv)]
    for k, message in enumerate(messages):
        calls = [c["id"] for c in message.get("tool_calls") or ()]
        after = messages[k + 1 : k + 1 + len(calls)]
        assert sorted(m.get("tool_call_id", "") for m in after) == sorted(calls)
    offered = [t for t in _as_responses(conv)["tools"] if t["type"] == "function"]
    table = ToolTable(offered)
    assert [t["function"]["name"] for t in body.get("tools", ())] == [
        table.upstream(t["name"]) for t in offered], "function tools offered, web_search dropped"
    for dropped in ("store", "include", "instructions", "input", "metadata"):
        assert dropped not in body


@given(conversations())
@settings(max_examples=40, deadline=None)
def test_responses_request_to_anthropic_is_valid_and_keeps_everything(conv: dict[str, Any]) -> None:
    body = translation(Api.RESPONSES, Api.ANTHROPIC).request(_as_responses(conv)).body
    body.setdefault("max_tokens", 1000)  # the router's own field (UpstreamApi.prepare)
    assert validate_anthropic_request(body) == []
    blob = [b["text"] for b in body["system"]]
    for message in body["messages"]:
        blob += [b.get("text") or b.get("content") or "" for b in message["content"]]
    joined = "\n".join(str(b) for b in blob)
    assert all(text in joined for text in _all_texts(conv))
    images = [b["source"] for m in body["messages"] for b in m["content"] if b["type"] == "image"]
    assert images == [_source(i) for i in _all_images(conv)]


# --- answers: a stream collects to the translated whole answer ---------------------------


@st.composite
def tooled_answers(draw: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """An upstream answer, the request whose tools it calls (each of a kind), and the
    upstream -> translated name map the request translation would have recorded."""
    answer = draw(answers())
    kind_of = {name: draw(KINDS) for _, name, _ in answer["calls"]}  # one tool per name
    kinds = [kind_of[name] for _, name, _ in answer["calls"]]
    tools: list[dict[str, Any]] = []
    for name, kind in kind_of.items():
        if kind == "namespace":
            tools.append({"type": "namespace", "name": NAMESPACE, "description": "Agents.",
                          "tools": [{"type": "function", "name": name}]})
        else:
            tools.append({"type": kind, "name": name})
    request = {"model": "free", "input": "hi", "tools": tools, "store": draw(st.booleans()),
               "max_output_tokens": draw(st.one_of(st.none(), st.integers(1, 999)))}
    table = ToolTable(tools)
    names = {f"short{k}": table.upstream(name, NAMESPACE if kind == "namespace" else None)
             for k, ((_, name, _), kind) in enumerate(zip(answer["calls"], kinds, strict=True))}
    return answer, request, names


def _context(request: dict[str, Any], names: dict[str, str]) -> ResponseContext:
    return ResponseContext(served_model="prov/up", prompt_tokens=42, tool_names=names,
                           created=1700000000, answer_id="0123abcd", request=request)


def _check_calls(expected: dict[str, Any], answer: dict[str, Any], request: dict[str, Any]) -> None:
    calls = [i for i in expected["output"] if i["type"] != "message"]
    assert [c["name"] for c in calls] == [c[1] for c in answer["calls"]]
    tool_of = {(t["tools"][0] if t["type"] == "namespace" else t)["name"]: t for t in request["tools"]}
    for call in calls:
        tool = tool_of[call["name"]]
        assert call["type"] == ("custom_tool_call" if tool["type"] == "custom" else "function_call")
        assert call.get("namespace") == (NAMESPACE if tool["type"] == "namespace" else None)
    if answer["finish"] == "length":  # a call may be cut short too
        assert expected["status"] == "incomplete"
        assert expected["incomplete_details"] == {"reason": "max_output_tokens"}
    statuses = [i["status"] for i in expected["output"]]
    if expected["status"] == "incomplete" and statuses:
        assert statuses == ["completed"] * (len(statuses) - 1) + ["incomplete"], \
            "the item a stop cut short is incomplete, the ones before it completed"
    else:
        assert set(statuses) <= {"completed"}
    assert expected["model"] == "prov/up" and expected["id"] == "resp_0123abcd"
    assert all(i["content"][0]["text"] for i in expected["output"] if i["type"] == "message")


@given(tooled_answers())
@settings(max_examples=100, deadline=None)
def test_chat_stream_collects_to_translated_response(drawn: Any) -> None:
    answer, request, names = drawn
    ctx = _context(request, names)
    body, chunks = _openai_upstream(answer)
    pair = translation(Api.RESPONSES, Api.OPENAI)
    expected = pair.response(body, ctx)
    translator = pair.stream(ctx)
    frames = [frame for c in chunks for frame in translator.feed(c)]
    assert translator.done, "the usage chunk ends the stream"
    assert collect_responses(frames + translator.finish()) == expected == translator.answer
    _check_calls(expected, answer, request)


@given(tooled_answers())
@settings(max_examples=100, deadline=None)
def test_anthropic_stream_collects_to_translated_response(drawn: Any) -> None:
    answer, request, names = drawn
    ctx = _context(request, names)
    body, events = _anthropic_upstream(answer)
    pair = translation(Api.RESPONSES, Api.ANTHROPIC)
    expected = pair.response(body, ctx)
    translator = pair.stream(ctx)
    frames = [frame for e in events for frame in translator.feed(e)]
    assert translator.done, "message_stop ends the stream"
    assert collect_responses(frames + translator.finish()) == expected == translator.answer
    _check_calls(expected, answer, request)
    assert expected["usage"]["input_tokens"] == answer["prompt"] + answer["cached"] + 3


@given(tooled_answers(), st.integers(0, 40), st.sampled_from([Api.OPENAI, Api.ANTHROPIC]))
@settings(max_examples=60, deadline=None)
def test_a_broken_stream_ends_with_error_then_failed(drawn: Any, cut: int, upstream: Api) -> None:
    answer, request, names = drawn
    ctx = _context(request, names)
    _body, events = (_openai_upstream if upstream is Api.OPENAI else _anthropic_upstream)(answer)
    translator = translation(Api.RESPONSES, upstream).stream(ctx)
    frames = [frame for e in events[: min(cut, len(events) - 2)] for frame in translator.feed(e)]
    frames += translator.fail("upstream_error", "the upstream went away")
    got = collect_responses(frames)  # the failed output checked against what was streamed
    assert got["error"] == {"code": "upstream_error", "message": "the upstream went away"}
    streamed = [e for e in parse_frames(frames) if e[0] == "response.output_text.delta"]
    assert bool(streamed) <= bool(got["failed"]["output"]), "text sent is in the failed output"
    assert translator.done and translator.answer is None
    assert translator.fail("upstream_error", "again") == [] and translator.finish() == []
    assert parse_frames(frames)[-1][0] == "response.failed"


@given(st.lists(TEXT, min_size=1, max_size=3))
def test_an_early_end_is_a_failure_never_a_completion(texts: list[str]) -> None:
    ctx = _context({}, {})
    for upstream in (Api.OPENAI, Api.ANTHROPIC):
        translator = translation(Api.RESPONSES, upstream).stream(ctx)
        first: dict[str, Any] = ({"id": "c", "choices": [{"index": 0, "delta": {"content": texts[0]}}]}
                                 if upstream is Api.OPENAI else
                                 {"type": "message_start", "message": {"id": "m", "usage": {}}})
        frames = translator.feed(first) + translator.finish()
        assert "error" in collect_responses(frames)

