"""An OpenAI Chat Completions request as an Anthropic Messages request (wire.md §1).

The body is rebuilt from known fields only, so nothing Anthropic would reject (n, penalties,
logprobs, seed, stream_options, OpenAI `metadata`, ...) slips through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from router.translate import thinking
from router.translate.context import TranslatedRequest
from router.translate.ids import anthropic_tool_id, short_tool_name
from router.translate.media import document_block, image_block
from router.types import JSON

# OpenAI names no budget; these follow the common bridge heuristic (wire.md §1.5)
_THINKING_BUDGET = {"low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
_THINKING_TOP_P = (0.95, 1.0)  # the top_p Anthropic accepts with thinking on
_JSON_OBJECT_INSTRUCTION = "Respond only with a single valid JSON object."
# Anthropic historically required the conversation to open with a user turn
_OPENING_USER_TEXT = "(continuing the conversation)"
_EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}


def text_of(content: Any) -> str:
    """The text of an OpenAI `content` that is a string or a list of text/refusal parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = (p.get("text") or p.get("refusal") for p in content if isinstance(p, dict))
    return "\n".join(t for t in texts if isinstance(t, str) and t)


def _text_block(part: JSON) -> JSON | None:
    text = part.get("text") or part.get("refusal")
    return {"type": "text", "text": text} if isinstance(text, str) and text else None


_PART_TO_BLOCK: dict[str, Callable[[JSON], JSON | None]] = {
    "text": _text_block,
    "refusal": _text_block,
    "image_url": image_block,
    "file": document_block,
}


def _blocks(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[JSON] = []
    for part in content if isinstance(content, list) else ():
        convert = _PART_TO_BLOCK.get(part.get("type", "")) if isinstance(part, dict) else None
        block = convert(part) if convert else None
        if block is not None:
            blocks.append(block)
    return blocks


def _arguments(raw: Any) -> JSON:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = orjson.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class _History:
    """The Anthropic conversation under construction; lives for one translation only."""

    def __init__(self, names: dict[str, str]) -> None:
        self.system: list[JSON] = []
        self.turns: list[JSON] = []
        self.names = names
        self.pending: list[str] = []  # tool_use ids of the last assistant turn still unanswered

    def tool_name(self, name: str) -> str:
        short = short_tool_name(name)
        if short != name:
            self.names[short] = name
        return short

    def add(self, role: str, blocks: list[JSON]) -> None:
        if not blocks:
            return
        if self.turns and self.turns[-1]["role"] == role:
            self.turns[-1]["content"].extend(blocks)
        else:
            self.turns.append({"role": role, "content": blocks})

    def add_result(self, raw_id: Any, content: str) -> None:
        """Tool results join the next user turn, ahead of any text or image in it."""
        wanted = anthropic_tool_id(raw_id if isinstance(raw_id, str) else "")
        # an id that matches nothing (empty ids from some backends) answers the oldest call
        tool_id = wanted if wanted in self.pending or not self.pending else self.pending[0]
        if tool_id in self.pending:
            self.pending.remove(tool_id)
        block: JSON = {"type": "tool_result", "tool_use_id": tool_id, "content": content}
        if not self.turns or self.turns[-1]["role"] != "user":
            self.turns.append({"role": "user", "content": []})
        blocks = self.turns[-1]["content"]
        first_other = next((i for i, b in enumerate(blocks) if b["type"] != "tool_result"), None)
        blocks.insert(len(blocks) if first_other is None else first_other, block)


def _system_message(msg: JSON, history: _History) -> None:
    text = text_of(msg.get("content"))
    if text:
        history.system.append({"type": "text", "text": text})


def _user_message(msg: JSON, history: _History) -> None:
    history.add("user", _blocks(msg.get("content")))


def _assistant_message(msg: JSON, history: _History) -> None:
    blocks = _blocks(msg.get("content"))
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        blocks.append({"type": "text", "text": refusal})
    calls = [c for c in msg.get("tool_calls") or () if isinstance(c, dict)]
    legacy = msg.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"id": "", "function": legacy})
    ids: list[str] = []
    for k, call in enumerate(calls):
        function = call.get("function") or {}
        raw_id = call.get("id")
        tool_id = anthropic_tool_id(raw_id if isinstance(raw_id, str) and raw_id else f"call_{k}")
        ids.append(tool_id)
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id,
                "name": history.tool_name(str(function.get("name") or "")),
                "input": _arguments(function.get("arguments")),
            }
        )
    merged = bool(history.turns) and history.turns[-1]["role"] == "assistant"
    history.add("assistant", blocks)
    if calls:
        # consecutive assistant messages become one turn, answered by one user turn
        history.pending = history.pending + ids if merged else ids


def _tool_message(msg: JSON, history: _History) -> None:
    history.add_result(msg.get("tool_call_id"), text_of(msg.get("content")))


_ROLES: dict[str, Callable[[JSON, _History], None]] = {
    "system": _system_message,
    "developer": _system_message,
    "user": _user_message,
    "assistant": _assistant_message,
    "tool": _tool_message,
    "function": _tool_message,
}


def _tool(tool: JSON, history: _History) -> JSON | None:
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, dict):
        return None
    out: JSON = {"name": history.tool_name(str(function.get("name") or ""))}
    if function.get("description"):
        out["description"] = function["description"]
    parameters = function.get("parameters")
    schema = parameters if isinstance(parameters, dict) else {}
    # Anthropic insists on an object schema; OpenAI lets `parameters` be omitted
    out["input_schema"] = {**_EMPTY_SCHEMA, **schema}
    return out


_NAMED_CHOICES: dict[str, JSON] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}


def _tool_choice(body: JSON, history: _History) -> JSON | None:
    choice = body.get("tool_choice")
    mapped: JSON | None = None
    if isinstance(choice, str):
        mapped = dict(_NAMED_CHOICES.get(choice, _NAMED_CHOICES["auto"]))
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        mapped = {"type": "tool", "name": history.tool_name(str(choice["function"].get("name")))}
    elif isinstance(choice, dict):  # allowed_tools: no equivalent, keep its mode
        mode = (choice.get("allowed_tools") or {}).get("mode")
        mapped = {"type": "any" if mode == "required" else "auto"}
    if body.get("parallel_tool_calls") is False:
        mapped = mapped or {"type": "auto"}
        if mapped["type"] != "none":
            mapped["disable_parallel_tool_use"] = True
    return mapped


def _sampling(body: JSON, out: JSON) -> None:
    maximum = body.get("max_completion_tokens")
    maximum = maximum if maximum is not None else body.get("max_tokens")
    if maximum is not None:
        out["max_tokens"] = maximum
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str)]
    temperature = body.get("temperature")
    if isinstance(temperature, int | float):
        out["temperature"] = min(float(temperature), 1.0)  # Anthropic rejects > 1
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]


def _thinking(body: JSON, out: JSON) -> None:
    budget = _THINKING_BUDGET.get(body.get("reasoning_effort") or "")
    if budget is None:
        return
    ceiling = out.get("max_tokens")
    if isinstance(ceiling, int) and not isinstance(ceiling, bool):
        # the client's max_tokens is a ceiling: thinking fits inside it or stays off (and with
        # it off, sampling and tool choice go as asked)
        fitted = thinking.room_for(budget, ceiling)
        if fitted is None:
            return
        budget = fitted
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    # with thinking on Anthropic refuses a non-default temperature, top_p outside [0.95, 1] and a
    # forced tool choice
    out.pop("temperature", None)
    top_p = out.get("top_p")
    if not (isinstance(top_p, int | float) and _THINKING_TOP_P[0] <= top_p <= _THINKING_TOP_P[1]):
        out.pop("top_p", None)
    choice = out.get("tool_choice")
    if isinstance(choice, dict) and choice["type"] in ("any", "tool"):
        out["tool_choice"] = {k: v for k, v in choice.items() if k != "name"} | {"type": "auto"}


def _response_format(body: JSON, out: JSON, history: _History) -> None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return
    spec = fmt.get("json_schema")
    if fmt.get("type") == "json_schema" and isinstance(spec, dict):
        out["output_config"] = {"format": {"type": "json_schema", "schema": spec.get("schema")}}
    elif fmt.get("type") == "json_object":
        history.system.append({"type": "text", "text": _JSON_OBJECT_INSTRUCTION})


def translate(body: JSON) -> TranslatedRequest:
    names: dict[str, str] = {}
    history = _History(names)
    for msg in body.get("messages") or ():
        handler = _ROLES.get(msg.get("role", "")) if isinstance(msg, dict) else None
        if handler:
            handler(msg, history)
    out: JSON = {"model": body.get("model")}
    _sampling(body, out)
    tools = [t for t in (_tool(t, history) for t in body.get("tools") or ()) if t]
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body, history)
        if choice:
            out["tool_choice"] = choice
    _thinking(body, out)
    _response_format(body, out, history)
    if history.system:
        out["system"] = history.system
    if not history.turns or history.turns[0]["role"] != "user":
        history.turns.insert(0, {"role": "user", "content": [_opening_text()]})
    out["messages"] = history.turns
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if "stream" in body:
        out["stream"] = body["stream"]
    return TranslatedRequest(body=out, tool_names=names)


def _opening_text() -> JSON:
    return {"type": "text", "text": _OPENING_USER_TEXT}
