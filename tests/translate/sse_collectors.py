"""What an SDK would build from each API's SSE output, checking the stream's rules on the way
(the invariants the official SDKs and Claude Code depend on)."""

from __future__ import annotations

import json
from typing import Any

from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

# The `openai` SDK's own models of every Responses event, validated strictly (the SDK itself
# builds them leniently, so a field it requires could go missing unnoticed).
RESPONSES_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def parse_frames(frames: list[bytes]) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = []
    for frame in b"".join(frames).decode().split("\n\n"):
        if not frame.strip():
            continue
        name: str | None = None
        data: Any = None
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                raw = line[len("data: ") :]
                data = raw if raw == "[DONE]" else json.loads(raw)
        events.append((name, data))
    return events


def collect_anthropic(frames: list[bytes]) -> dict[str, Any]:
    """The final message, or {"error": ...} for a stream ending with an in-band error."""
    events = parse_frames(frames)
    message: dict[str, Any] | None = None
    open_index: int | None = None
    partial: dict[int, str] = {}
    for position, (name, data) in enumerate(events):
        assert name == data["type"], "event name and payload type agree"
        if name == "error":
            assert position == len(events) - 1, "nothing after an error"
            return {"error": data["error"]}
        if name == "message_start":
            assert message is None and position == 0
            message = data["message"]
            assert isinstance(message["usage"]["input_tokens"], int)
            continue
        assert message is not None, "message_start comes first"
        if name == "content_block_start":
            assert open_index is None, "blocks are sequential"
            assert data["index"] == len(message["content"])
            open_index = data["index"]
            block = dict(data["content_block"])
            if block["type"] == "tool_use":
                block["input"] = {}  # SDKs build input from the deltas only
                partial[open_index] = ""
            message["content"].append(block)
        elif name == "content_block_delta":
            assert open_index is not None and data["index"] == open_index
            block, delta = message["content"][open_index], data["delta"]
            kinds = {"text_delta": "text", "thinking_delta": "thinking"}
            if delta["type"] in kinds:
                block[kinds[delta["type"]]] += delta[kinds[delta["type"]]]
            elif delta["type"] == "input_json_delta":
                partial[open_index] += delta["partial_json"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            if open_index in partial:
                raw = partial[open_index]
                message["content"][open_index]["input"] = json.loads(raw) if raw else {}
            open_index = None
        elif name == "message_delta":
            assert open_index is None, "every block is stopped before the message ends"
            assert data["delta"]["stop_reason"] is not None
            message.update(data["delta"])
            message["usage"].update({k: v for k, v in data["usage"].items() if v is not None})
        elif name == "message_stop":
            assert position == len(events) - 1, "nothing after message_stop"
            assert message["stop_reason"] is not None, "a message_delta came first"
            return message
    raise AssertionError("the stream ended without message_stop or error")


def collect_openai(frames: list[bytes]) -> dict[str, Any]:
    """The chat.completion an SDK would assemble, or {"error": ...}."""
    events = parse_frames(frames)
    assert events and events[-1][1] == "[DONE]", "the stream ends with [DONE]"
    assert all(name is None for name, _ in events), "OpenAI streams carry no event names"
    out: dict[str, Any] = {"content": None, "tool_calls": {}, "finish_reason": None}
    for _, chunk in events[:-1]:
        assert chunk != "[DONE]", "one [DONE], last"
        if "error" in chunk:
            return {"error": chunk["error"]}
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"] and isinstance(chunk["created"], int) and chunk["model"]
        out.setdefault("id", chunk["id"])
        assert out["id"] == chunk["id"], "one id for every chunk"
        out["model"] = chunk["model"]
        if "usage" in chunk and not chunk["choices"]:
            out["usage"] = chunk["usage"]
            continue
        assert "usage" not in out, "the usage chunk is the last one"
        (choice,) = chunk["choices"]
        delta = choice["delta"]
        if delta.get("content"):
            out["content"] = (out["content"] or "") + delta["content"]
        if delta.get("reasoning_content"):
            out["reasoning_content"] = out.get("reasoning_content", "") + delta["reasoning_content"]
        for call in delta.get("tool_calls") or ():
            slot = out["tool_calls"].setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
            slot["id"] = call.get("id") or slot["id"]
            function = call.get("function") or {}
            slot["name"] += function.get("name") or ""
            slot["arguments"] += function.get("arguments") or ""
        if choice["finish_reason"]:
            assert out["finish_reason"] is None, "one finish"
            out["finish_reason"] = choice["finish_reason"]
    return out


def openai_summary(completion: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming chat.completion in the collector's shape, for comparison."""
    choice = completion["choices"][0]
    message = choice["message"]
    out: dict[str, Any] = {
        "id": completion["id"],
        "model": completion["model"],
        "content": message["content"],
        "tool_calls": {
            call["index"]: {
                "id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
            }
            for call in message.get("tool_calls") or ()
        },
        "finish_reason": choice["finish_reason"],
        "usage": completion["usage"],
    }
    if "reasoning_content" in message:
        out["reasoning_content"] = message["reasoning_content"]
    return out


def collect_responses(frames: list[bytes]) -> dict[str, Any]:
    """The response object a Responses client would hold at the end, checking the stream's
    rules on the way: every event named after its type and numbered in order, no [DONE],
    created and in_progress first, each item added before anything about it and done once
    with exactly what its deltas said, no empty message, and a terminal event whose `output`
    is every item done, only the last `incomplete` and only when the response is. A stream that
    failed gives {"error": ..., "failed": response}, whose `output` is every item added: those
    done as they were, the others `incomplete` with what their deltas said."""
    events = parse_frames(frames)
    assert events, "a stream has events"
    output: dict[int, dict[str, Any]] = {}  # output index -> the item as added, then built
    done: dict[int, dict[str, Any]] = {}
    text: dict[str, str] = {}  # item id -> text so far
    arguments: dict[str, str] = {}
    error: dict[str, Any] | None = None
    for position, (name, data) in enumerate(events):
        assert data != "[DONE]", "no [DONE] in a Responses stream"
        RESPONSES_EVENT.validate_python(data)
        assert name == data["type"], "event name and payload type agree"
        assert data["sequence_number"] == position, "sequence numbers rise from 0 by one"
        if error is not None:
            assert name == "response.failed" and position == len(events) - 1, "error, then failed"
            assert data["response"]["status"] == "failed"
            _check_produced(data["response"]["output"], output, done, text, arguments)
            return {"error": error, "failed": data["response"]}
        if name == "error":
            error = {"code": data["code"], "message": data["message"]}
            continue
        if position < 2:
            assert name == ("response.created", "response.in_progress")[position]
            assert data["response"]["status"] == "in_progress" and data["response"]["output"] == []
            continue
        if name == "response.output_item.added":
            index = data["output_index"]
            assert index == len(output), "items are added in output order"
            item = data["item"]
            assert item["status"] == "in_progress" and item["id"]
            output[index] = item
            text[item["id"]], arguments[item["id"]] = "", ""
            continue
        if name in ("response.completed", "response.incomplete"):
            assert position == len(events) - 1, "nothing after the terminal event"
            assert sorted(done) == sorted(output), "every item added is done"
            response: dict[str, Any] = data["response"]
            assert response["output"] == [done[i] for i in sorted(done)], "the output is every item"
            assert response["status"] == name.removeprefix("response.")
            cut = [i for i in sorted(done) if done[i]["status"] == "incomplete"]
            assert cut == ([max(done)] if done and response["status"] == "incomplete" else []), \
                "only the item an early stop cut short is incomplete"
            usage = response["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
            return response
        index = data["output_index"]
        assert index in output and index not in done, "an event about an open item"
        item = output[index]
        ident = data.get("item_id", item["id"])
        assert ident == item["id"], "events name their item by its id"
        if name == "response.content_part.added":
            assert item["type"] == "message" and data["part"]["text"] == ""
        elif name == "response.output_text.delta":
            assert data["delta"], "no empty deltas"
            text[ident] += data["delta"]
        elif name in ("response.output_text.done", "response.content_part.done"):
            got = data["text"] if name.endswith("text.done") else data["part"]["text"]
            assert got == text[ident]
        elif name == "response.function_call_arguments.delta":
            arguments[ident] += data["delta"]
        elif name == "response.function_call_arguments.done":
            assert data["arguments"] == (arguments[ident] or "{}") and data["name"] == item["name"]
        elif name == "response.custom_tool_call_input.delta":
            arguments[ident] += data["delta"]
        elif name == "response.custom_tool_call_input.done":
            assert data["input"] == arguments[ident]
        elif name == "response.output_item.done":
            whole = data["item"]
            assert whole["id"] == item["id"] and whole["type"] == item["type"]
            assert whole["status"] in ("completed", "incomplete")
            if whole["type"] == "message":
                assert whole["content"][0]["text"] == text[ident] != "", "never an empty message"
            elif whole["type"] == "function_call":
                assert whole["name"] and whole["call_id"] == item["call_id"]
                assert whole["arguments"] == (arguments[ident] or "{}")
            else:
                assert whole["type"] == "custom_tool_call" and whole["name"]
                assert whole["input"] == arguments[ident]
            done[index] = whole
        else:
            raise AssertionError(f"unexpected event {name}")
    raise AssertionError("the stream ended without a terminal event")


def _check_produced(failed: list[dict[str, Any]], added: dict[int, dict[str, Any]],
                    done: dict[int, dict[str, Any]], text: dict[str, str],
                    arguments: dict[str, str]) -> None:
    """A failed response's output: every item added, in order, as far as it got."""
    assert [i["id"] for i in failed] == [added[k]["id"] for k in sorted(added)]
    for index, item in enumerate(failed):
        if index in done:
            assert item == done[index], "an item done stays as it was"
            continue
        assert item["status"] == "incomplete" and item["type"] == added[index]["type"]
        if item["type"] == "message":
            assert item["content"][0]["text"] == text[item["id"]] != ""
        elif item["type"] == "function_call":
            assert item["arguments"] == arguments[item["id"]]
