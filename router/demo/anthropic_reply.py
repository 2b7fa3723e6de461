"""The Anthropic Messages side of a simulated model: a request body read as an `Ask`, and a
`Reply` written as a message or as its stream of events (thinking blocks with signatures, text,
tool_use blocks whose input arrives as input_json_delta fragments)."""

from __future__ import annotations

from typing import Any

import orjson

from router.demo.replies import Ask, Reply, Tool, ToolMode
from router.demo.tokenizer import IMAGE_TOKENS, MESSAGE_TOKENS, count, grouped
from router.types import JSON

TOOL_MODES = {"auto": ToolMode.AUTO, "any": ToolMode.REQUIRED, "tool": ToolMode.NAMED,
              "none": ToolMode.NONE}
THINKING_TYPES = frozenset({"enabled", "adaptive"})


def ask_of(body: JSON) -> Ask:
    messages: list[JSON] = body["messages"]
    texts = _texts(body.get("system"))
    for m in messages:
        texts += _texts(m.get("content"))
    texts += [orjson.dumps(body["tools"]).decode()] if body.get("tools") else []
    schema = _schema(body)
    texts += [orjson.dumps(schema).decode()] if schema else []
    images = sum(_images(m.get("content")) for m in messages)
    users = [m for m in messages if m.get("role") == "user"]
    last = messages[-1]
    choice = body.get("tool_choice") or {}
    thinking = body.get("thinking") or {}
    return Ask(
        model=body["model"],
        said=next((t for m in reversed(users) if (t := _said(m.get("content")))), ""),
        prompt_tokens=count(texts) + MESSAGE_TOKENS * len(messages) + IMAGE_TOKENS * images,
        tool_results=tuple(_tool_results(last)) if last.get("role") == "user" else (),
        images=_images(users[-1].get("content")) if users else 0,
        tools=tuple(Tool(t["name"], t["input_schema"]) for t in body.get("tools") or ()
                    if "input_schema" in t),
        tool_mode=TOOL_MODES.get(choice.get("type", "auto"), ToolMode.AUTO),
        named_tool=choice.get("name"),
        parallel=not choice.get("disable_parallel_tool_use"),
        schema=schema,
        reason=thinking.get("type") in THINKING_TYPES,
        prompt_text="\n".join(texts),
        max_tokens=body["max_tokens"],  # required, and it counts thinking too
    )


def _schema(body: JSON) -> JSON | None:
    """output_config.format, or the beta's older top-level `output_format`."""
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format")
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" \
        else None
    return schema if isinstance(schema, dict) else None


def _blocks(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or () if isinstance(b, dict)]


def _texts(content: Any) -> list[str]:
    out = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "tool_use":
            out.append(orjson.dumps(block.get("input")).decode())
        elif kind == "tool_result":
            out += _texts(block.get("content"))
        elif isinstance(block.get("text") or block.get("thinking"), str):
            out.append(block.get("text") or block["thinking"])
    return out


def _said(content: Any) -> str:
    texts = [b["text"] for b in _blocks(content) if b.get("type") == "text"
             and isinstance(b.get("text"), str) and b["text"].strip()]
    return texts[-1] if texts else ""


def _images(content: Any) -> int:
    return sum(1 for b in _blocks(content) if b.get("type") == "image")


def _tool_results(message: JSON) -> list[str]:
    return [" ".join(_texts(b.get("content"))) for b in _blocks(message.get("content"))
            if b.get("type") == "tool_result"]


# -- the answer -----------------------------------------------------------------------------


def message(message_id: str, model: str, reply: Reply) -> JSON:
    content: list[JSON] = []
    if reply.reasoning:
        content.append({"type": "thinking", "thinking": reply.thought,
                        "signature": f"sig_{message_id}"})
    if reply.text:
        content.append({"type": "text", "text": reply.content})
    # a call cut short has no input object yet (its stream sent the JSON as far as it got)
    content += [{"type": "tool_use", "id": f"toolu_{c.id}", "name": c.name,
                 "input": c.arguments if c.whole else {}} for c in reply.calls]
    return {
        "id": message_id, "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def _stop_reason(reply: Reply) -> str:
    if reply.cut:
        return "max_tokens"
    return "tool_use" if reply.calls else "end_turn"


def _deltas(block: JSON, reply: Reply, groups: int) -> list[JSON]:
    kind = block["type"]
    if kind == "thinking":
        return [*({"type": "thinking_delta", "thinking": p}
                  for p in grouped(list(reply.reasoning), groups)),
                {"type": "signature_delta", "signature": block["signature"]}]
    if kind == "tool_use":
        call = next(c for c in reply.calls if f"toolu_{c.id}" == block["id"])
        # the first fragment of a real stream is often empty
        return [{"type": "input_json_delta", "partial_json": p}
                for p in ("", *grouped(list(call.argument_pieces), groups))]
    return [{"type": "text_delta", "text": p} for p in grouped(list(reply.text), groups)]


def _start(block: JSON) -> JSON:
    if block["type"] == "tool_use":
        return {**block, "input": {}}
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "text", "text": ""}


def stream_events(whole: JSON, reply: Reply, groups: int = 0) -> list[JSON]:
    """The SSE events a Messages stream carries for the message `whole`, in order."""
    usage = whole["usage"]
    head = {**whole, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1}}
    events: list[JSON] = [{"type": "message_start", "message": head}, {"type": "ping"}]
    for index, block in enumerate(whole["content"]):
        events.append({"type": "content_block_start", "index": index, "content_block": _start(block)})
        events += [{"type": "content_block_delta", "index": index, "delta": d}
                   for d in _deltas(block, reply, groups)]
        events.append({"type": "content_block_stop", "index": index})
    events.append({
        "type": "message_delta",
        "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]},
    })
    events.append({"type": "message_stop"})
    return events
