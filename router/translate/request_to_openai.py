"""An Anthropic Messages request as an OpenAI Chat Completions request (wire.md §1).

The body is rebuilt from known fields only: thinking, context_management, output_config.effort,
cache_control, top_k, betas and server tools have no place on an OpenAI-compatible backend and
many of those reject unknown fields, so they are dropped. JSON-schema keywords in tool
parameters (`$schema`, `additionalProperties`, ...) pass as they are; a backend that rejects
them needs per-backend sanitising, which belongs to the provider adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from router.translate.context import TranslatedRequest
from router.translate.ids import short_tool_name
from router.translate.media import document_part, image_part
from router.types import JSON

OPENAI_MAX_STOPS = 4

_ERROR_PREFIX = "Error: "  # OpenAI tool messages have no is_error flag


def _text_part(block: JSON) -> JSON | None:
    text = block.get("text")
    return {"type": "text", "text": text} if isinstance(text, str) and text else None


_BLOCK_TO_PART: dict[str, Callable[[JSON], JSON | None]] = {
    "text": _text_part,
    "image": image_part,
    "document": document_part,
}


def _parts(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    parts: list[JSON] = []
    for block in content if isinstance(content, list) else ():
        convert = _BLOCK_TO_PART.get(block.get("type", "")) if isinstance(block, dict) else None
        part = convert(block) if convert else None
        if part is not None:
            parts.append(part)
    return parts


def _texts(parts: list[JSON]) -> str:
    return "\n".join(p["text"] for p in parts if p["type"] == "text")


def _user_content(parts: list[JSON]) -> str | list[JSON]:
    """Plain text as a string: text-only backends often refuse part lists."""
    if all(p["type"] == "text" for p in parts):
        return _texts(parts)
    return parts


class _Conversation:
    """The OpenAI message list under construction; lives for one translation only."""

    def __init__(self, names: dict[str, str]) -> None:
        self.system: list[str] = []
        self.messages: list[JSON] = []
        self.names = names

    def tool_name(self, name: str) -> str:
        short = short_tool_name(name)
        if short != name:
            self.names[short] = name
        return short


def _system_turn(msg: JSON, conv: _Conversation) -> None:
    # Claude Code puts a system message inside `messages`; folded into the one system prompt
    # because many backends' chat templates accept a system message only first
    text = _texts(_parts(msg.get("content")))
    if text:
        conv.system.append(text)


def _tool_result(block: JSON) -> tuple[JSON, list[JSON]]:
    """One tool message, plus the images it carried (tool messages hold text only)."""
    parts = _parts(block.get("content"))
    text = _texts(parts)
    if block.get("is_error"):
        text = _ERROR_PREFIX + text
    message = {"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": text}
    return message, [p for p in parts if p["type"] != "text"]


def _user_turn(msg: JSON, conv: _Conversation) -> None:
    content = msg.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    carried: list[JSON] = []
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            message, images = _tool_result(block)
            conv.messages.append(message)
            carried.extend(images)
    rest = [b for b in blocks if isinstance(b, dict) and b.get("type") != "tool_result"]
    parts = carried + _parts(rest)
    if parts:
        conv.messages.append({"role": "user", "content": _user_content(parts)})


def _assistant_turn(msg: JSON, conv: _Conversation) -> None:
    content = msg.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    text = _texts(_parts(blocks))
    calls = [
        {
            "id": str(b.get("id") or ""),
            "type": "function",
            "function": {
                "name": conv.tool_name(str(b.get("name") or "")),
                "arguments": orjson.dumps(b.get("input") or {}).decode(),
            },
        }
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    if not text and not calls:
        return
    message: JSON = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    conv.messages.append(message)


_TURNS: dict[str, Callable[[JSON, _Conversation], None]] = {
    "system": _system_turn,
    "user": _user_turn,
    "assistant": _assistant_turn,
}


def _tool(tool: JSON, conv: _Conversation) -> JSON | None:
    # server tools (web_search_*, bash_*, ...) carry a versioned `type` and no schema
    if tool.get("type", "custom") != "custom" or "input_schema" not in tool:
        return None
    function: JSON = {"name": conv.tool_name(str(tool.get("name") or ""))}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool["input_schema"]
    return {"type": "function", "function": function}


def _named_choice(choice: JSON, conv: _Conversation) -> str | JSON:
    return {"type": "function", "function": {"name": conv.tool_name(str(choice.get("name")))}}


_CHOICES: dict[str, Callable[[JSON, _Conversation], str | JSON]] = {
    "auto": lambda _c, _v: "auto",
    "any": lambda _c, _v: "required",
    "none": lambda _c, _v: "none",
    "tool": _named_choice,
}


def _tools(body: JSON, out: JSON, conv: _Conversation) -> None:
    tools = [t for t in (_tool(t, conv) for t in body.get("tools") or ()) if t]
    if not tools:
        return
    out["tools"] = tools
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    convert = _CHOICES.get(choice.get("type", ""))
    if convert:
        out["tool_choice"] = convert(choice, conv)
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False


def _sampling(body: JSON, out: JSON) -> None:
    for key in ("max_tokens", "temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        out["stop"] = stops[:OPENAI_MAX_STOPS]  # OpenAI refuses more than four


def _response_format(body: JSON, out: JSON) -> None:
    config = body.get("output_config")
    # `output_format` is how the structured-outputs beta first spelled it
    fmt = (config.get("format") if isinstance(config, dict) else None) or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": fmt.get("schema") or {}},
        }


def _user(body: JSON, out: JSON) -> None:
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        out["user"] = user_id


def _system_texts(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system] if system else []
    text = _texts(_parts(system))
    return [text] if text else []


def translate(body: JSON) -> TranslatedRequest:
    names: dict[str, str] = {}
    conv = _Conversation(names)
    conv.system = _system_texts(body.get("system"))
    for msg in body.get("messages") or ():
        handler = _TURNS.get(msg.get("role", "")) if isinstance(msg, dict) else None
        if handler:
            handler(msg, conv)
    out: JSON = {"model": body.get("model")}
    system = [{"role": "system", "content": "\n\n".join(conv.system)}] if conv.system else []
    out["messages"] = system + conv.messages
    _sampling(body, out)
    _tools(body, out, conv)
    _response_format(body, out)
    _user(body, out)
    if "stream" in body:
        out["stream"] = body["stream"]
        if body["stream"]:
            out["stream_options"] = {"include_usage": True}
    return TranslatedRequest(body=out, tool_names=names)
