"""Hypothesis properties: request translation loses no text, image or tool pairing, and a
stream translated event by event collects to the translated non-streaming answer."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from router.translate import ResponseContext
from router.types import Api
from router.wire import translation
from tests.translate.sse_collectors import collect_anthropic, collect_openai, openai_summary

TEXT = st.text(alphabet="abcdefghij XYZ.,!0123456789", min_size=1, max_size=30).filter(
    lambda s: s.strip() != ""
)
RAW_TOOL_ID = st.one_of(
    st.from_regex(r"call_[a-zA-Z0-9]{4,10}", fullmatch=True),
    st.from_regex(r"functions\.[A-Za-z]{1,8}:[0-9]", fullmatch=True),
    st.from_regex(r"toolu_[a-zA-Z0-9]{6}", fullmatch=True),
)
TOOL_NAME = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True),
    st.from_regex(r"mcp__[a-z]{3,8}__[a-z.]{60,70}", fullmatch=True),
)
ARGS = st.dictionaries(
    st.from_regex(r"[a-z]{1,6}", fullmatch=True),
    st.one_of(st.integers(-1000, 1000), TEXT, st.booleans(), st.lists(st.integers(0, 9))),
    max_size=4,
)
B64 = st.from_regex(r"[A-Za-z0-9+/]{4,24}={0,2}", fullmatch=True)
HTTP_URL = st.from_regex(r"https://img\.example/[a-z]{1,10}\.png", fullmatch=True)
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def _unique_ids(ids: list[str]) -> bool:
    return len(set(ids)) == len(ids)


@st.composite
def openai_images(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        media = draw(st.sampled_from(["image/png", "image/jpeg", "image/webp"]))
        return {"kind": "base64", "media_type": media, "data": draw(B64)}
    return {"kind": "url", "url": draw(HTTP_URL)}


def _image_url(image: dict[str, Any]) -> str:
    if image["kind"] == "base64":
        return f"data:{image['media_type']};base64,{image['data']}"
    return str(image["url"])


def _source(image: dict[str, Any]) -> dict[str, Any]:
    if image["kind"] == "base64":
        return {"type": "base64", "media_type": image["media_type"], "data": image["data"]}
    return {"type": "url", "url": image["url"]}


@st.composite
def conversations(draw: Any) -> dict[str, Any]:
    """An API-neutral conversation: system texts, then turns; tool calls always get results."""
    turns: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        texts = draw(st.lists(TEXT, max_size=2))
        images = draw(st.lists(openai_images(), max_size=2))
        if not texts and not images:
            texts = [draw(TEXT)]
        turns.append({"role": "user", "texts": texts, "images": images})
        calls = draw(st.lists(st.tuples(RAW_TOOL_ID, TOOL_NAME, ARGS, TEXT, st.booleans()), max_size=3))
        calls = [c for i, c in enumerate(calls) if c[0] not in {d[0] for d in calls[:i]}]
        reply = draw(st.lists(TEXT, max_size=1))
        if not reply and not calls:
            reply = [draw(TEXT)]
        turns.append({"role": "assistant", "texts": reply, "calls": calls})
    return {
        "system": draw(st.lists(TEXT, max_size=2)),
        "inner_system": draw(st.lists(TEXT, max_size=1)),
        "turns": turns,
        "order": draw(st.randoms(use_true_random=False)),
    }


def _all_texts(conv: dict[str, Any]) -> list[str]:
    texts: list[str] = conv["system"] + conv["inner_system"]
    for turn in conv["turns"]:
        texts += turn["texts"]
        texts += [call[3] for call in turn.get("calls", ())]
    return texts


def _all_images(conv: dict[str, Any]) -> list[dict[str, Any]]:
    return [image for turn in conv["turns"] for image in turn.get("images", ())]


def _as_openai(conv: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": t} for t in conv["system"]]
    for turn in conv["turns"]:
        if turn["role"] == "user":
            parts = [{"type": "text", "text": t} for t in turn["texts"]]
            parts += [{"type": "image_url", "image_url": {"url": _image_url(i)}} for i in turn["images"]]
            messages.append({"role": "user", "content": parts})
            continue
        message: dict[str, Any] = {"role": "assistant", "content": " ".join(turn["texts"]) or None}
        if turn["calls"]:
            message["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for cid, name, args, _, _ in turn["calls"]
            ]
        messages.append(message)
        results = [{"role": "tool", "tool_call_id": c[0], "content": c[3]} for c in turn["calls"]]
        conv["order"].shuffle(results)  # results may come back in any order
        messages += results
        messages += [{"role": "developer", "content": t} for t in conv["inner_system"]]
    return {"model": "free", "messages": messages, "stream": False}


@given(conversations())
@settings(max_examples=80, deadline=None)
def test_openai_request_to_anthropic_keeps_text_images_and_pairs(conv: dict[str, Any]) -> None:
    body = translation(Api.OPENAI, Api.ANTHROPIC).request(_as_openai(conv)).body
    messages = body["messages"]
    assert messages[0]["role"] == "user"
    assert all(a["role"] != b["role"] for a, b in pairwise(messages))
    blob = [b["text"] for b in body.get("system", ())]
    for message in messages:
        for block in message["content"]:
            assert block.get("text", "x") != "", "no empty text blocks"
            blob.append(block.get("text") or block.get("content") or "")
    joined = "\n".join(blob)
    assert all(text in joined for text in _all_texts(conv))
    images = [b["source"] for m in messages for b in m["content"] if b["type"] == "image"]
    assert images == [_source(i) for i in _all_images(conv)]
    for k, message in enumerate(messages):
        uses = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
        if not uses:
            continue
        assert all(ANTHROPIC_ID.match(i) for i in uses) and _unique_ids(uses)
        following = messages[k + 1]["content"]
        results = [b["tool_use_id"] for b in following[: len(uses)] if b["type"] == "tool_result"]
        assert sorted(results) == sorted(uses), "every tool_use answered first in the next turn"


def _as_anthropic(conv: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for turn in conv["turns"]:
        if turn["role"] == "user":
            blocks = pending + [{"type": "text", "text": t} for t in turn["texts"]]
            blocks += [{"type": "image", "source": _source(i)} for i in turn["images"]]
            messages.append({"role": "user", "content": blocks})
            messages += [{"role": "system", "content": t} for t in conv["inner_system"]]
            pending = []
            continue
        blocks = [{"type": "text", "text": t} for t in turn["texts"]]
        blocks += [
            {"type": "tool_use", "id": f"toolu_{k}_{len(messages)}", "name": c[1], "input": c[2]}
            for k, c in enumerate(turn["calls"])
        ]
        messages.append({"role": "assistant", "content": blocks})
        pending = [
            {
                "type": "tool_result",
                "tool_use_id": f"toolu_{k}_{len(messages) - 1}",
                "content": [{"type": "text", "text": c[3]}] if c[4] else c[3],
                "is_error": c[4],
            }
            for k, c in enumerate(turn["calls"])
        ]
    if pending:
        messages.append({"role": "user", "content": pending})
    system = [{"type": "text", "text": t, "cache_control": {"type": "ephemeral"}} for t in conv["system"]]
    return {"model": "free", "max_tokens": 1000, "system": system, "messages": messages}


@given(conversations())
@settings(max_examples=80, deadline=None)
def test_anthropic_request_to_openai_keeps_text_images_and_pairs(conv: dict[str, Any]) -> None:
    request = _as_anthropic(conv)
    out = translation(Api.ANTHROPIC, Api.OPENAI).request(request)
    messages = out.body["messages"]
    assert [m["role"] for m in messages].count("system") == (
        1 if conv["system"] + conv["inner_system"] else 0
    )
    assert "system" not in [m["role"] for m in messages[1:]]
    blob: list[str] = []
    urls: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            blob.append(content)
        for part in content if isinstance(content, list) else ():
            blob.append(part.get("text", ""))
            if part["type"] == "image_url":
                urls.append(part["image_url"]["url"])
    joined = "\n".join(blob)
    assert all(text in joined for text in _all_texts(conv))
    assert urls == [_image_url(i) for i in _all_images(conv)]
    for k, message in enumerate(messages):
        calls = [c["id"] for c in message.get("tool_calls") or ()]
        if not calls:
            continue
        after = messages[k + 1 : k + 1 + len(calls)]
        assert [m["role"] for m in after] == ["tool"] * len(calls)
        assert [m["tool_call_id"] for m in after] == calls
        for call in message["tool_calls"]:
            name = call["function"]["name"]
            assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name)
            assert out.tool_names.get(name, name) in {c[1] for t in conv["turns"] for c in t.get("calls", ())}


# --- streams: translating event by event equals translating the collected answer ---------


@st.composite
def answers(draw: Any) -> dict[str, Any]:
    calls = draw(st.lists(st.tuples(RAW_TOOL_ID, TOOL_NAME, ARGS), max_size=3))
    calls = [c for i, c in enumerate(calls) if c[0] not in {d[0] for d in calls[:i]}]
    return {
        "reasoning": draw(st.one_of(st.just(""), TEXT)),
        "text": draw(st.one_of(st.just(""), TEXT)),
        "calls": calls,
        "finish": draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"])),
        "prompt": draw(st.integers(0, 5000)),
        "cached": draw(st.integers(0, 100)),
        "completion": draw(st.integers(0, 5000)),
        "cuts": draw(st.lists(st.integers(1, 6), min_size=1, max_size=8)),
        "fake_stream": draw(st.booleans()),  # content arrives with the finish in one chunk
        "missing_id": draw(st.booleans()),
        "split": draw(st.integers(0, 30)),  # an Anthropic upstream may send two text blocks
    }


def _fragments(text: str, cuts: list[int]) -> list[str]:
    pieces: list[str] = []
    k = 0
    while k < len(text):
        step = cuts[len(pieces) % len(cuts)]
        pieces.append(text[k : k + step])
        k += step
    return pieces


def _names(answer: dict[str, Any]) -> dict[str, str]:
    """Upstream (shortened) name -> client name, as the request translation recorded it."""
    return {f"short{k}": name for k, (_, name, _) in enumerate(answer["calls"])}


def _openai_upstream(answer: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    usage = {
        "prompt_tokens": answer["prompt"] + answer["cached"],
        "completion_tokens": answer["completion"],
        "total_tokens": answer["prompt"] + answer["cached"] + answer["completion"],
        "prompt_tokens_details": {"cached_tokens": answer["cached"]},
    }
    calls: list[dict[str, Any]] = [
        {
            "id": "" if answer["missing_id"] else cid,
            "type": "function",
            "function": {"name": f"short{k}", "arguments": orjson.dumps(args).decode()},
        }
        for k, (cid, _, args) in enumerate(answer["calls"])
    ]
    message: dict[str, Any] = {"role": "assistant", "content": answer["text"] or None}
    if answer["reasoning"]:
        message["reasoning_content"] = answer["reasoning"]
    if calls:
        message["tool_calls"] = calls
    body = {
        "id": "chatcmpl-up1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "message": message, "finish_reason": answer["finish"]}],
        "usage": usage,
    }
    base = {"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1, "model": "up"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in _fragments(answer["reasoning"], answer["cuts"])]
    text = _fragments(answer["text"], answer["cuts"])
    last_text = text.pop() if answer["fake_stream"] and text and not calls else None
    chunks += [chunk({"content": p}) for p in text]
    for k, call in enumerate(calls):
        args = _fragments(call["function"]["arguments"], answer["cuts"])
        head = {
            "index": k,
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": args[0] if answer["fake_stream"] else "",
            },
        }
        chunks.append(chunk({"tool_calls": [head]}))
        rest = args[1:] if answer["fake_stream"] else args
        chunks += [chunk({"tool_calls": [{"index": k, "function": {"arguments": a}}]}) for a in rest]
    chunks.append(chunk({"content": last_text} if last_text else {}, answer["finish"]))
    chunks.append(base | {"choices": [], "usage": usage})
    return body, chunks


@given(answers())
@settings(max_examples=150, deadline=None)
def test_openai_stream_collects_to_translated_response(answer: dict[str, Any]) -> None:
    ctx = ResponseContext(served_model="prov/up", prompt_tokens=42, tool_names=_names(answer))
    body, chunks = _openai_upstream(answer)
    expected = translation(Api.ANTHROPIC, Api.OPENAI).response(body, ctx)
    translator = translation(Api.ANTHROPIC, Api.OPENAI).stream(ctx)
    frames = [frame for c in chunks for frame in translator.feed(c)] + translator.finish()
    assert collect_anthropic(frames) == expected
    if answer["calls"]:
        assert expected["stop_reason"] == "tool_use"
        assert [b["name"] for b in expected["content"] if b["type"] == "tool_use"] == [
            c[1] for c in answer["calls"]
        ]


def _anthropic_upstream(answer: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    blocks: list[dict[str, Any]] = []
    if answer["reasoning"]:
        blocks.append({"type": "thinking", "thinking": answer["reasoning"], "signature": "sig"})
    cut = min(answer["split"], len(answer["text"]))
    for text in (answer["text"][:cut], answer["text"][cut:]):
        if text:
            blocks.append({"type": "text", "text": text})
    blocks += [
        {"type": "tool_use", "id": f"toolu_{k}", "name": f"short{k}", "input": args}
        for k, (_, _, args) in enumerate(answer["calls"])
    ]
    stop = (
        "tool_use"
        if answer["calls"] and answer["finish"] != "length"  # a call may be cut short too
        else {
            "stop": "end_turn",
            "length": "max_tokens",
            "tool_calls": "stop_sequence",
            "content_filter": "refusal",
        }[answer["finish"]]
    )
    usage = {
        "input_tokens": answer["prompt"],
        "cache_read_input_tokens": answer["cached"],
        "cache_creation_input_tokens": 3,
        "output_tokens": answer["completion"],
    }
    body = {
        "id": "msg_up1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    start = dict(body, content=[], stop_reason=None, usage=usage | {"output_tokens": 1})
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(blocks):
        empties: dict[str, dict[str, Any]] = {
            "text": {"text": ""},
            "thinking": {"thinking": "", "signature": ""},
            "tool_use": {"input": {}},
        }
        empty = empties[block["type"]]
        shell = {k: v for k, v in block.items() if k not in ("text", "thinking", "input", "signature")}
        events.append({"type": "content_block_start", "index": index, "content_block": shell | empty})
        pieces: list[dict[str, Any]]
        if block["type"] == "tool_use":
            raw = orjson.dumps(block["input"]).decode()
            pieces = [{"type": "input_json_delta", "partial_json": ""}]
            pieces += [
                {"type": "input_json_delta", "partial_json": p} for p in _fragments(raw, answer["cuts"])
            ]
        elif block["type"] == "thinking":
            pieces = [
                {"type": "thinking_delta", "thinking": p}
                for p in _fragments(block["thinking"], answer["cuts"])
            ]
            pieces.append({"type": "signature_delta", "signature": "sig"})
        else:
            pieces = [{"type": "text_delta", "text": p} for p in _fragments(block["text"], answer["cuts"])]
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in pieces]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": answer["completion"]},
        }
    )
    events.append({"type": "message_stop"})
    return body, events


def _parsed_arguments(summary: dict[str, Any]) -> dict[str, Any]:
    for call in summary["tool_calls"].values():
        call["arguments"] = json.loads(call["arguments"])
    return summary


@given(answers())
@settings(max_examples=150, deadline=None)
def test_anthropic_stream_collects_to_translated_response(answer: dict[str, Any]) -> None:
    ctx = ResponseContext(served_model="prov/up", include_usage=True, tool_names=_names(answer))
    body, events = _anthropic_upstream(answer)
    expected = openai_summary(translation(Api.OPENAI, Api.ANTHROPIC).response(body, ctx))
    translator = translation(Api.OPENAI, Api.ANTHROPIC).stream(ctx)
    frames = [frame for e in events for frame in translator.feed(e)] + translator.finish()
    assert _parsed_arguments(collect_openai(frames)) == _parsed_arguments(expected)
    names = [c["name"] for c in expected["tool_calls"].values()]
    assert names == [c[1] for c in answer["calls"]]
