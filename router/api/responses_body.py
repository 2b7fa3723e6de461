"""The shape checks a Responses API request body must pass before it is routed: a RequestError
naming the first problem, with the offending field as `param` (`tools[0].name`,
`text.format.schema`) and, where OpenAI's own API has one, its error `code` and wording.

Only the shape is checked: what a backend may or may not support is the proxy's business, and
unknown fields are ignored (INTERFACE.md). Tool types that run on OpenAI's side are dropped
later, so only the tools the router translates (`function`, `custom`, the members of a
`namespace`) are checked beyond being objects with a `type`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from router.api.body import (
    MAX_MESSAGES,
    MAX_TOOLS,
    check_bool,
    check_object,
    check_string,
    check_text_or_typed,
)
from router.errors import RequestError
from router.types import JSON

ROLES = frozenset({"user", "assistant", "system", "developer"})
CALL_ITEMS = frozenset({"function_call", "function_call_output", "custom_tool_call",
                        "custom_tool_call_output"})
FORMAT_TYPES = ("text", "json_object", "json_schema")
TOOL_CHOICES = ("none", "auto", "required")
NAMED_CHOICES = frozenset({"function", "custom"})
NAMED_TOOLS = frozenset({"function", "custom"})  # the tools the router translates: a name each
# The ranges OpenAI enforces, as (least, most).
RANGES: Mapping[str, tuple[float, float]] = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


def validate_responses_body(body: JSON) -> None:
    """Shape checks a Responses request must pass; RequestError names the first problem."""
    _check_input(body)
    # The body's own fields, in its order: most requests send a few of those checked here.
    for key, value in body.items():
        check = _TOP_LEVEL.get(key)
        if check is not None and value is not None:
            check(value, key)


# -- OpenAI's own errors ---------------------------------------------------------------------


def _missing(where: str) -> RequestError:
    return RequestError(f"Missing required parameter: '{where}'.", param=where,
                        code="missing_required_parameter")


def _invalid_value(value: Any, where: str, supported: Sequence[str]) -> RequestError:
    quoted = [f"'{s}'" for s in supported]
    listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    return RequestError(f"Invalid value for '{where}': {value!r}. Supported values are: {listed}.",
                        param=where, code="invalid_value")


def _invalid_type(where: str, expected: str) -> RequestError:
    return RequestError(f"Invalid type for '{where}': expected {expected}.", param=where,
                        code="invalid_type")


# -- input -----------------------------------------------------------------------------------


def _check_input(body: JSON) -> None:
    raw = body.get("input")
    if raw is None or raw == [] or raw == "":
        if body.get("previous_response_id") is None and not body.get("instructions"):
            raise RequestError("`input` is required: a string or an array of input items",
                               param="input")
        return
    if isinstance(raw, str):
        return
    if not isinstance(raw, list):
        raise RequestError("`input` must be a string or an array of input items", param="input")
    if len(raw) > MAX_MESSAGES:
        raise RequestError(f"`input` has {len(raw)} items; at most {MAX_MESSAGES} are accepted",
                           param="input")
    for i, item in enumerate(raw):
        _check_item(item, f"input[{i}]")


def _check_item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise RequestError(f"`{where}` must be an object", param=where)
    kind = item.get("type")
    if kind is not None and not isinstance(kind, str):
        raise RequestError(f"`{where}.type` must be a string", param=f"{where}.type")
    if kind in (None, "message"):
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise RequestError(f"`{where}.role` must be one of {', '.join(sorted(ROLES))}, got {role!r}",
                               param=f"{where}.role")
        check_text_or_typed(item.get("content"), f"{where}.content", "content parts")
    elif kind == "item_reference" and not isinstance(item.get("id"), str):
        raise RequestError(f"`{where}.id` is required (the id of the item referenced)",
                           param=f"{where}.id")
    elif kind in CALL_ITEMS and not isinstance(item.get("call_id"), str):
        raise RequestError(f"`{where}.call_id` is required and must be a string",
                           param=f"{where}.call_id")




# -- tools -----------------------------------------------------------------------------------


def _check_tools(value: Any, where: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_TOOLS or not all(isinstance(t, dict) for t in value):
        raise RequestError(f"`{where}` must be an array of at most {MAX_TOOLS} tool objects", param=where)
    for i, tool in enumerate(value):
        _check_tool(tool, f"{where}[{i}]")


def _check_tool(tool: Any, where: str) -> None:
    if not isinstance(tool, dict):
        raise _invalid_type(where, "an object")
    kind = tool.get("type")
    if kind is None:
        raise _missing(f"{where}.type")
    if not isinstance(kind, str):
        raise _invalid_type(f"{where}.type", "a string")
    if kind in NAMED_TOOLS or kind == "namespace":
        _check_name(tool, where)
    if kind == "function" and tool.get("parameters") is not None \
            and not isinstance(tool["parameters"], dict):
        raise _invalid_type(f"{where}.parameters", "an object (a JSON Schema)")
    if kind == "namespace":
        inner = tool.get("tools")
        if inner is None:
            raise _missing(f"{where}.tools")
        if not isinstance(inner, list):
            raise _invalid_type(f"{where}.tools", "an array of tools")
        for j, member in enumerate(inner):
            _check_tool(member, f"{where}.tools[{j}]")


def _check_name(tool: JSON, where: str) -> None:
    name = tool.get("name")
    if name is None:
        raise _missing(f"{where}.name")
    if not isinstance(name, str) or not name:
        raise _invalid_type(f"{where}.name", "a non-empty string")


def _check_choice(value: Any, where: str) -> None:
    if isinstance(value, str):
        if value not in TOOL_CHOICES:
            raise _invalid_value(value, where, TOOL_CHOICES)
        return
    if not isinstance(value, dict):
        raise RequestError(f"`{where}` must be a string or an object", param=where)
    kind = value.get("type")
    if kind is None:
        raise _missing(f"{where}.type")
    if not isinstance(kind, str):
        raise _invalid_type(f"{where}.type", "a string")
    if kind in NAMED_CHOICES:
        _check_name(value, where)


# -- text.format and the rest ----------------------------------------------------------------


def _check_text(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise RequestError(f"`{where}` must be an object", param=where)
    fmt = value.get("format")
    if fmt is None:
        return
    at = f"{where}.format"
    if not isinstance(fmt, dict):
        raise _invalid_type(at, "an object")
    kind = fmt.get("type")
    if kind is None:
        raise _missing(f"{at}.type")
    if kind not in FORMAT_TYPES:
        raise _invalid_value(kind, f"{at}.type", FORMAT_TYPES)
    if kind != "json_schema":
        return
    # `name` is not required here (OpenAI requires it): a missing one is named "response"
    if fmt.get("name") is not None and not isinstance(fmt["name"], str):
        raise _invalid_type(f"{at}.name", "a string")
    if fmt.get("schema") is None:
        raise _missing(f"{at}.schema")
    if not isinstance(fmt["schema"], dict):
        raise _invalid_type(f"{at}.schema", "an object (a JSON Schema)")


def _check_reasoning(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise RequestError(f"`{where}` must be an object", param=where)
    # any string: an effort a backend does not know is simply not mapped (newer ones appear)
    if value.get("effort") is not None and not isinstance(value["effort"], str):
        raise _invalid_type(f"{where}.effort", "a string")


def _check_positive(value: Any, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RequestError(f"`{where}` must be a positive integer", param=where)


def _check_ranged(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"`{where}` must be a number", param=where)
    least, most = RANGES[where]
    if value < least:
        raise RequestError(f"Invalid '{where}': decimal below minimum value. Expected a value >= "
                           f"{least:g}, but got {value:g} instead.", param=where,
                           code="decimal_below_min_value")
    if value > most:
        raise RequestError(f"Invalid '{where}': decimal above maximum value. Expected a value <= "
                           f"{most:g}, but got {value:g} instead.", param=where,
                           code="decimal_above_max_value")


_TOP_LEVEL: Mapping[str, Callable[[Any, str], None]] = {
    "tools": _check_tools,
    "tool_choice": _check_choice,
    "stream": check_bool,
    "store": check_bool,
    "parallel_tool_calls": check_bool,
    "max_output_tokens": _check_positive,
    "temperature": _check_ranged,
    "top_p": _check_ranged,
    "instructions": check_string,
    "previous_response_id": check_string,
    "text": _check_text,
    "reasoning": _check_reasoning,
    "metadata": check_object,
}
