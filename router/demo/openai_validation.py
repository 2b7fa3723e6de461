"""What a strict OpenAI-compatible server rejects in a Chat Completions request, as a list of
problems: the strict half of the fake OpenAI upstream, which lets the tests prove the router
only ever forwards requests a real server would take."""

from __future__ import annotations

import re
from typing import Any

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def validate_openai_request(body: Any) -> list[str]:
    """What a strict OpenAI-compatible server would reject in this body."""
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems = []
    if not isinstance(body.get("model"), str):
        problems.append("model is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages must be a non-empty array"]
    call_ids: set[str] = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            problems.append(f"messages[{i}] has no valid role")
            continue
        for call in m.get("tool_calls") or []:
            call_ids.add(call.get("id"))
            if not isinstance(call.get("function", {}).get("arguments"), str):
                problems.append(f"messages[{i}] tool call arguments must be a string")
        if m["role"] == "tool" and m.get("tool_call_id") not in call_ids:
            problems.append(f"messages[{i}] answers an unknown tool_call_id")
    for t in body.get("tools") or []:
        name = (t.get("function") or {}).get("name", "")
        if t.get("type") != "function" or not TOOL_NAME.match(name):
            problems.append(f"invalid tool definition {name!r}")
    for key in ("max_tokens", "max_completion_tokens"):
        if key in body and (not isinstance(body[key], int) or body[key] < 1):
            problems.append(f"{key} must be a positive integer")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        problems.append("temperature must be within [0, 2]")
    problems.extend(_check_response_format(body.get("response_format")))
    for key in ("thinking", "metadata", "system", "anthropic_version", "context_management"):
        if key in body:
            problems.append(f"unknown field {key!r}")
    return problems


def _check_response_format(fmt: Any) -> list[str]:
    if fmt is None:
        return []
    if not isinstance(fmt, dict) or fmt.get("type") not in FORMAT_TYPES:
        return ["response_format.type must be text, json_object or json_schema"]
    if fmt["type"] != "json_schema":
        return []
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not TOOL_NAME.match(str(spec.get("name", ""))):
        return ["response_format.json_schema.name is required (letters, digits, _ and -)"]
    if "schema" in spec and not isinstance(spec["schema"], dict):
        return ["response_format.json_schema.schema must be an object"]
    return []
