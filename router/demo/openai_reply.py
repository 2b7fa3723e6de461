"""The OpenAI Chat Completions side of a simulated model: a request body read as an `Ask`, and
a `Reply` written as a chat.completion or as its chat.completion.chunk stream."""

from __future__ import annotations

from typing import Any

import orjson

from router.demo.replies import Ask, Reply, Tool, ToolMode
from router.demo.scripted import Behaviour
from router.demo.tokenizer import IMAGE_TOKENS, MESSAGE_TOKENS, count, grouped
from router.types import JSON

TOOL_MODES = {"auto": ToolMode.AUTO, "required": ToolMode.REQUIRED, "none": ToolMode.NONE}


def ask_of(body: JSON, behaviour: Behaviour) -> Ask:
    messages: list[JSON] = body["messages"]
    texts = [t for m in messages for t in _texts(m)]
    texts += [orjson.dumps(x).decode() for x in (body.get("tools"), body.get("response_format"))
              if x]
    images = sum(_images(m) for m in messages)
    user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    mode, named, offered = _tool_choice(body)
    schema, json_mode = _format(body.get("response_format"))
    return Ask(
        model=body["model"],
        said=_last_text(user.get("content")),
        prompt_tokens=count(texts) + MESSAGE_TOKENS * len(messages) + IMAGE_TOKENS * images,
        tool_results=tuple(_tool_results(messages)),
        images=_images(user),
        tools=offered,
        tool_mode=mode,
        named_tool=named,
        parallel=body.get("parallel_tool_calls") is not False,
        schema=schema,
        json_mode=json_mode,
        reason=behaviour.reasoning and body.get("reasoning_effort") != "none",
        prompt_text="\n".join(texts),
        max_tokens=_bound(body),
    )


def _bound(body: JSON) -> int | None:
    """max_completion_tokens, else the older max_tokens (both count reasoning, as OpenAI's do)."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _texts(message: JSON) -> list[str]:
    content = message.get("content")
    out = [content] if isinstance(content, str) else [
        p["text"] for p in content or () if isinstance(p, dict) and isinstance(p.get("text"), str)]
    out += [str((c.get("function") or {}).get("arguments", "")) for c in message.get("tool_calls") or ()]
    return out


def _images(message: JSON) -> int:
    content = message.get("content")
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url") \
        if isinstance(content, list) else 0


def _last_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = [p["text"] for p in content or () if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return texts[-1] if texts else ""


def _tool_results(messages: list[JSON]) -> list[str]:
    results: list[str] = []
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        results.insert(0, " ".join(_texts(m)))
    return results


def _tool_choice(body: JSON) -> tuple[ToolMode, str | None, tuple[Tool, ...]]:
    tools = tuple(Tool(t["function"]["name"], t["function"].get("parameters") or {})
                  for t in body.get("tools") or ())
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        return TOOL_MODES.get(choice, ToolMode.AUTO), None, tools
    if isinstance(choice, dict) and choice.get("type") == "function":
        return ToolMode.NAMED, (choice.get("function") or {}).get("name"), tools
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or ()}
        mode = TOOL_MODES.get(allowed.get("mode", "auto"), ToolMode.AUTO)
        return mode, None, tuple(t for t in tools if t.name in names)
    return ToolMode.AUTO, None, tools


def _format(fmt: Any) -> tuple[JSON | None, bool]:
    if not isinstance(fmt, dict):
        return None, False
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return (schema, False) if isinstance(schema, dict) else (None, True)
    return None, fmt.get("type") == "json_object"


# -- the answer -----------------------------------------------------------------------------


def finish_reason(reply: Reply) -> str:
    if reply.cut:
        return "length"
    return "tool_calls" if reply.calls else "stop"


def usage(reply: Reply) -> JSON:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": len(reply.reasoning)}}


def _tool_calls(reply: Reply) -> list[JSON]:
    return [{"id": f"call_{c.id}", "type": "function",
             "function": {"name": c.name, "arguments": "".join(c.argument_pieces)}}
            for c in reply.calls]


def completion(completion_id: str, created: int, model: str, reply: Reply) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.content or None, "refusal": None}
    if reply.calls:
        message["tool_calls"] = _tool_calls(reply)
    if reply.reasoning:
        message["reasoning_content"] = reply.thought
    return {
        "id": completion_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(reply)}],
        "usage": usage(reply),
    }


def chunk_base(completion_id: str, created: int, model: str) -> JSON:
    return {"id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": model}


def chunks(base: JSON, reply: Reply, groups: int) -> list[JSON]:
    """The stream's chunks up to the finish (the usage chunk and [DONE] are the writer's)."""
    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": p}) for p in grouped(list(reply.reasoning), groups)]
    out += [chunk({"content": p}) for p in grouped(list(reply.text), groups)]
    for i, call in enumerate(reply.calls):
        out.append(chunk({"tool_calls": [{"index": i, "id": f"call_{call.id}", "type": "function",
                                          "function": {"name": call.name, "arguments": ""}}]}))
        out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]})
                for p in grouped(list(call.argument_pieces), groups)]
    out.append(chunk({}, finish_reason(reply)))
    return out
