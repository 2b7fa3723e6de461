"""A Responses API request as a Chat Completions request, and (through it) as an Anthropic
Messages request.

Items become messages: `instructions` and every system or developer message lead the prompt as
one system message (many chat templates accept a system message only first); user and
assistant messages keep their text and images; `function_call` / `custom_tool_call` items join
the assistant message before them as tool calls, and their `..._output` items become tool
messages matched by `call_id`. `reasoning` items (often encrypted for one OpenAI deployment)
are not forwarded; nor are items of tool types that are dropped (see responses_tools), nor any
`..._output` whose call is not in the history. `item_reference` items were resolved before
translation (router.api.responses).

The body is rebuilt from known fields only: `store`, `metadata`, `include`, `prompt_cache_key`
(used for routing), `truncation`, `service_tier`, `text.verbosity`, `reasoning.summary` and the
rest have no place on a chat backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from router.translate import request_to_anthropic
from router.translate.context import TranslatedRequest
from router.translate.ids import short_tool_name
from router.translate.responses_tools import ToolTable, custom_arguments, names_of
from router.types import JSON

_SYSTEM_ROLES = frozenset({"system", "developer"})
_DEFAULT_SCHEMA_NAME = "response"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _image_part(part: JSON) -> JSON | None:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        return None  # a `file_id` names OpenAI's own storage: it cannot travel
    image: JSON = {"url": url}
    if part.get("detail") in ("low", "high", "auto"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: JSON) -> JSON | None:
    data = part.get("file_data")
    if not isinstance(data, str) or not data.startswith("data:"):
        return None  # file_id / file_url: not something a chat backend can fetch
    filename = part.get("filename") if isinstance(part.get("filename"), str) else "document.pdf"
    return {"type": "file", "file": {"filename": filename, "file_data": data}}


def _text_part(part: JSON) -> JSON | None:
    text = part.get("text") or part.get("refusal")
    return {"type": "text", "text": text} if isinstance(text, str) and text else None


_PARTS: Mapping[str, Callable[[JSON], JSON | None]] = {
    "input_text": _text_part,
    "output_text": _text_part,
    "text": _text_part,
    "refusal": _text_part,
    "input_image": _image_part,
    "input_file": _file_part,
}


def parts_of(content: Any) -> list[JSON]:
    """Chat Completions content parts of a Responses `content` (a string or a part list)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    parts: list[JSON] = []
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, dict) else None
        convert = _PARTS.get(kind) if isinstance(kind, str) else None
        made = convert(part) if convert is not None else None
        if made is not None:
            parts.append(made)
    return parts


def _joined(parts: list[JSON]) -> str:
    return "\n".join(p["text"] for p in parts if p["type"] == "text")


def _content(parts: list[JSON]) -> str | list[JSON]:
    """Plain text as a string: text-only backends often refuse part lists."""
    return _joined(parts) if all(p["type"] == "text" for p in parts) else parts


class _Conversation:
    """The chat message list under construction; lives for one translation only."""

    def __init__(self, table: ToolTable) -> None:
        self.table = table
        self.system: list[str] = []
        self.messages: list[JSON] = []
        self.calls: set[str] = set()  # call ids the history holds so far
        self._assistant: JSON | None = None  # the message tool calls may still join

    def add(self, message: JSON) -> None:
        self.messages.append(message)
        self._assistant = message if message["role"] == "assistant" else None

    def add_call(self, call_id: str, name: str, arguments: str) -> None:
        if self._assistant is None:
            self.add({"role": "assistant", "content": None})
        assert self._assistant is not None
        self._assistant.setdefault("tool_calls", []).append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
        self.calls.add(call_id)


def _message(item: JSON, conv: _Conversation) -> None:
    role = item.get("role")
    content = item.get("content")
    if isinstance(content, str):  # the common case, and the whole of it: no part list to build
        if content and role in _SYSTEM_ROLES:
            conv.system.append(content)
        elif content and role in ("user", "assistant"):
            conv.add({"role": role, "content": content})
        return
    parts = parts_of(content)
    if role in _SYSTEM_ROLES:
        text = _joined(parts)
        if text:
            conv.system.append(text)
    elif role == "assistant":
        text = _joined(parts)
        if text:
            conv.add({"role": "assistant", "content": text})
    elif role == "user" and parts:
        conv.add({"role": "user", "content": _content(parts)})


def _call_id(item: JSON) -> str:
    return _text(item.get("call_id")) or _text(item.get("id"))


def _function_call(item: JSON, conv: _Conversation) -> None:
    namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
    name = conv.table.upstream(_text(item.get("name")), namespace)
    arguments = item.get("arguments")
    conv.add_call(_call_id(item), name, arguments if isinstance(arguments, str) and arguments else "{}")


def _custom_call(item: JSON, conv: _Conversation) -> None:
    name = conv.table.upstream(_text(item.get("name")))
    conv.add_call(_call_id(item), name, custom_arguments(_text(item.get("input"))))


def _output(item: JSON, conv: _Conversation) -> None:
    call_id = _text(item.get("call_id"))
    if call_id not in conv.calls:
        return  # its call is not in the history (dropped, or never there): no chat server takes it
    output = item.get("output")
    if isinstance(output, str):
        text, carried = output, []
    else:
        parts = parts_of(output)
        text, carried = _joined(parts), [p for p in parts if p["type"] != "text"]
    conv.add({"role": "tool", "tool_call_id": call_id, "content": text})
    if carried:  # tool messages hold text only: images a tool returned follow as a user turn
        conv.add({"role": "user", "content": carried})


_ITEMS: Mapping[str, Callable[[JSON, _Conversation], None]] = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _output,
    "custom_tool_call": _custom_call,
    "custom_tool_call_output": _output,
}


def _items(body: JSON) -> list[Any]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return raw if isinstance(raw, list) else []


def _tool_choice(choice: Any, table: ToolTable, out: JSON) -> None:
    if choice in ("auto", "none", "required"):
        out["tool_choice"] = choice
        return
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind in ("function", "custom") and isinstance(choice.get("name"), str):
        namespace = choice.get("namespace") if isinstance(choice.get("namespace"), str) else None
        name = table.upstream(choice["name"], namespace)
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif kind == "allowed_tools":
        # offering only the allowed tools is what the restriction means
        allowed = set(names_of(table, choice.get("tools")) or ())
        out["tools"] = [t for t in out["tools"] if t["function"]["name"] in allowed] or out["tools"]
        out["tool_choice"] = "required" if choice.get("mode") == "required" else "auto"
    # a choice of a hosted tool (web_search, mcp, ...) names one that was dropped: `auto`


def _tools(body: JSON, table: ToolTable, out: JSON) -> None:
    if not table:
        return
    out["tools"] = table.functions()
    _tool_choice(body.get("tool_choice"), table, out)
    if isinstance(body.get("parallel_tool_calls"), bool):
        out["parallel_tool_calls"] = body["parallel_tool_calls"]


def _response_format(body: JSON, out: JSON) -> None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return
    if fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        name = fmt.get("name")
        spec: JSON = {"name": short_tool_name(name) if isinstance(name, str) and name
                      else _DEFAULT_SCHEMA_NAME,
                      "schema": fmt.get("schema") if isinstance(fmt.get("schema"), dict) else {}}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                spec[key] = fmt[key]
        out["response_format"] = {"type": "json_schema", "json_schema": spec}


def _copied(name: str) -> Callable[[Any, JSON], None]:
    def copy(value: Any, out: JSON) -> None:
        if value is not None:
            out[name] = value
    return copy


def _effort(value: Any, out: JSON) -> None:
    effort = value.get("effort") if isinstance(value, dict) else None
    if isinstance(effort, str):
        out["reasoning_effort"] = effort


def _safety_identifier(value: Any, out: JSON) -> None:
    if isinstance(value, str) and value:
        out["user"] = value  # the newer name wins over `user`, whichever comes first


def _user(value: Any, out: JSON) -> None:
    if isinstance(value, str) and value:
        out.setdefault("user", value)


# The sampling parameters chat servers take, by the Responses field that carries them; looked
# up per field the request sent, as most send one or two of them.
_SAMPLING: Mapping[str, Callable[[Any, JSON], None]] = {
    "max_output_tokens": _copied("max_tokens"),
    "temperature": _copied("temperature"),
    "top_p": _copied("top_p"),
    "reasoning": _effort,
    "safety_identifier": _safety_identifier,
    "user": _user,
}


def _sampling(body: JSON, out: JSON) -> None:
    for key, value in body.items():
        copy = _SAMPLING.get(key)
        if copy is not None:
            copy(value, out)


def to_chat(body: JSON) -> TranslatedRequest:
    table = ToolTable(body.get("tools"))
    conv = _Conversation(table)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        conv.system.append(instructions)
    for item in _items(body):
        kind = (item.get("type") or "message") if isinstance(item, dict) else None
        handler = _ITEMS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            handler(item, conv)
    out: JSON = {"model": body.get("model")}
    system = [{"role": "system", "content": "\n\n".join(conv.system)}] if conv.system else []
    out["messages"] = system + conv.messages
    _sampling(body, out)
    _tools(body, table, out)
    _response_format(body, out)
    if "stream" in body:
        out["stream"] = body["stream"]
    return TranslatedRequest(body=out)


def to_anthropic(body: JSON) -> TranslatedRequest:
    """Through Chat Completions: the chat request keeps everything an Anthropic request can
    say, and request_to_anthropic already turns it into what the Messages API accepts."""
    return request_to_anthropic.translate(to_chat(body).body)
