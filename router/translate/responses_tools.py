"""The tools of a Responses API request as Chat Completions function tools, and the way back.

`function` tools are offered as they are (the Responses API spells them flat); a `custom` tool
(free-form text input, maybe under a grammar) becomes a function with one string parameter,
`input`, whose calls come back as `custom_tool_call` items with the text unwrapped; the tools
of a `namespace` are offered flat as `{namespace}__{name}` and their calls come back with the
namespace echoed. Every other tool type (web_search, file_search, image_generation,
local_shell, mcp, computer_use, code_interpreter, tool_search, ...) runs on OpenAI's side and
has no equivalent on a plain chat backend: it is dropped.

Upstream names are kept unique and within `^[a-zA-Z0-9_-]{1,64}$`; the table built from the
request's `tools` maps them back, the same on the request's way and on the answer's."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.translate.ids import short_tool_name
from router.types import JSON

CUSTOM_PARAMETER = "input"
NAMESPACE_SEPARATOR = "__"
_CUSTOM_DESCRIPTION = "The input, as free-form text."


class ToolKind(enum.Enum):
    FUNCTION = "function"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool as the client named it."""

    kind: ToolKind
    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class _Offered:
    ref: ToolRef
    function: JSON  # the Chat Completions `function` object, its name the upstream one


class ToolTable:
    """The request's translatable tools: client tool <-> upstream function name."""

    def __init__(self, tools: Any) -> None:
        self._offered: dict[str, _Offered] = {}  # upstream name -> offered tool
        self._upstream: dict[tuple[str | None, str], str] = {}  # (namespace, name) -> upstream
        for tool in tools if isinstance(tools, list) else ():
            if isinstance(tool, dict):
                self._add(tool, None, "")

    def _add(self, tool: JSON, namespace: str | None, context: str) -> None:
        kind = tool.get("type")
        convert = _OFFERS.get(kind) if isinstance(kind, str) else None
        if convert is None:
            if kind == "namespace" and namespace is None:
                self._namespace(tool)
            return
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            return
        flat = f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name
        upstream = self._unique(short_tool_name(flat))
        kind, function = convert(tool, upstream, context)
        self._offered[upstream] = _Offered(ToolRef(kind, name, namespace), function)
        self._upstream.setdefault((namespace, name), upstream)

    def _namespace(self, tool: JSON) -> None:
        name = tool.get("name")
        inner = tool.get("tools")
        if not isinstance(name, str) or not name or not isinstance(inner, list):
            return
        description = tool.get("description")
        context = description if isinstance(description, str) else ""
        for member in inner:
            if isinstance(member, dict):
                self._add(member, name, context)

    def _unique(self, name: str) -> str:
        if name not in self._offered:
            return name
        k = 1
        while (candidate := short_tool_name(f"{name}#{k}")) in self._offered:
            k += 1
        return candidate

    def __bool__(self) -> bool:
        return bool(self._offered)

    def functions(self, allowed: Iterable[str] | None = None) -> list[JSON]:
        """The Chat Completions `tools`, optionally only the upstream names in `allowed`."""
        keep = None if allowed is None else set(allowed)
        return [{"type": "function", "function": o.function} for name, o in self._offered.items()
                if keep is None or name in keep]

    def ref(self, upstream: str) -> ToolRef:
        """The client's tool behind an upstream name; an unknown name is a plain function."""
        offered = self._offered.get(upstream)
        return offered.ref if offered is not None else ToolRef(ToolKind.FUNCTION, upstream)

    def upstream(self, name: str, namespace: str | None = None) -> str:
        """The upstream name of a client tool (from a history item or a tool choice)."""
        found = self._upstream.get((namespace or None, name))
        if found is not None:
            return found
        flat = f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name
        return short_tool_name(flat)


def _function(tool: JSON, upstream: str, context: str) -> tuple[ToolKind, JSON]:
    function: JSON = {"name": upstream}
    description = _described(tool.get("description"), context)
    if description:
        function["description"] = description
    parameters = tool.get("parameters")
    function["parameters"] = parameters if isinstance(parameters, dict) else {
        "type": "object", "properties": {}}
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return ToolKind.FUNCTION, function


def _custom(tool: JSON, upstream: str, context: str) -> tuple[ToolKind, JSON]:
    description = _described(tool.get("description"), context)
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "grammar"
        rule = (f"The `{CUSTOM_PARAMETER}` must follow this {syntax} grammar:\n"
                f"{fmt['definition']}")
        description = f"{description}\n\n{rule}" if description else rule
    function: JSON = {"name": upstream}
    if description:
        function["description"] = description
    function["parameters"] = {
        "type": "object",
        "properties": {CUSTOM_PARAMETER: {"type": "string", "description": _CUSTOM_DESCRIPTION}},
        "required": [CUSTOM_PARAMETER],
    }
    return ToolKind.CUSTOM, function


def _described(description: Any, context: str) -> str:
    text = description if isinstance(description, str) else ""
    if context and text:
        return f"{context}\n\n{text}"
    return text or context


_OFFERS = {"function": _function, "custom": _custom}


def custom_arguments(text: str) -> str:
    """A custom tool call's raw input as the arguments of its function."""
    return orjson.dumps({CUSTOM_PARAMETER: text}).decode()


def custom_input(arguments: str) -> str:
    """The raw input back out of a function call's arguments; text that is not the expected
    object (a model that ignored the schema) is taken as the input itself."""
    try:
        parsed = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(parsed, dict):
        value = parsed.get(CUSTOM_PARAMETER)
        if isinstance(value, str):
            return value
        if len(parsed) == 1:
            (only,) = parsed.values()
            if isinstance(only, str):
                return only
    return arguments


def names_of(table: ToolTable, wanted: Any) -> list[str] | None:
    """The upstream names of an `allowed_tools` list (None: no restriction)."""
    if not isinstance(wanted, list):
        return None
    names = []
    for tool in wanted:
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
            namespace = tool.get("namespace")
            names.append(table.upstream(tool["name"], namespace if isinstance(namespace, str) else None))
    return names
