"""What the real Anthropic Messages API rejects in a request, as a list of problems: the strict
half of the fake Anthropic upstream, which lets the tests prove the router only ever forwards
requests the real API would take."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from router.types import JSON

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Every top-level field the Messages API knows; anything else is "Extra inputs are not permitted".
KNOWN_FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "output_config",
    "service_tier", "container", "context_management", "mcp_servers", "inference_geo",
    "cache_control",
})
TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})
MIN_THINKING_BUDGET = 1024
ROLES = frozenset({"user", "assistant"})
# The beta Claude Code sends that lets a `system` message sit inside `messages` (clients.md §1).
MID_CONVERSATION_SYSTEM = "mid-conversation-system-2026-04-07"
ROLES_WITH_SYSTEM = ROLES | {"system"}
# The beta under which structured outputs were first offered, as a top-level `output_format`.
STRUCTURED_OUTPUTS = "structured-outputs-2025-11-13"


def _check_text(block: JSON, where: str) -> list[str]:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text content blocks must be non-empty"]
    return []


def _check_image(block: JSON, where: str) -> list[str]:
    source = block.get("source")
    if not isinstance(source, dict):
        return [f"{where}.source is required"]
    if source.get("type") == "base64":
        if source.get("media_type") not in IMAGE_TYPES or not source.get("data"):
            return [f"{where}.source needs a supported media_type and data"]
        return []
    if source.get("type") == "url":
        return [] if isinstance(source.get("url"), str) else [f"{where}.source.url is required"]
    return [f"{where}.source.type must be base64 or url"]


def _check_tool_use(block: JSON, where: str) -> list[str]:
    problems = []
    if not isinstance(block.get("id"), str) or not TOOL_ID.match(block["id"]):
        problems.append(f"{where}.id must match {TOOL_ID.pattern}")
    if not isinstance(block.get("name"), str) or not TOOL_NAME.match(block["name"]):
        problems.append(f"{where}.name is not a valid tool name")
    if not isinstance(block.get("input"), dict):
        problems.append(f"{where}.input must be an object")
    return problems


def _check_tool_result(block: JSON, where: str) -> list[str]:
    problems = []
    if not isinstance(block.get("tool_use_id"), str):
        problems.append(f"{where}.tool_use_id is required")
    content = block.get("content")
    if isinstance(content, list):
        for j, inner in enumerate(content):
            if not isinstance(inner, dict) or inner.get("type") not in ("text", "image"):
                problems.append(f"{where}.content[{j}] must be a text or image block")
            elif inner["type"] == "text":
                problems.extend(_check_text(inner, f"{where}.content[{j}]"))
    elif content is not None and not isinstance(content, str):
        problems.append(f"{where}.content must be a string or an array")
    return problems


def _check_thinking(block: JSON, where: str) -> list[str]:
    # only signatures this API issued replay: an empty or foreign one is "Invalid signature"
    if not isinstance(block.get("signature"), str) or not block["signature"].startswith("sig_"):
        return [f"{where}.signature: Invalid signature in thinking block"]
    return []


def _check_document(block: JSON, where: str) -> list[str]:
    return [] if isinstance(block.get("source"), dict) else [f"{where}.source is required"]


_BLOCKS: Mapping[str, Callable[[JSON, str], list[str]]] = {
    "text": _check_text,
    "image": _check_image,
    "document": _check_document,
    "tool_use": _check_tool_use,
    "tool_result": _check_tool_result,
    "thinking": _check_thinking,
    "redacted_thinking": lambda b, w: [] if b.get("data") else [f"{w}.data is required"],
}


def _blocks(content: Any, where: str) -> tuple[list[JSON], list[str]]:
    if isinstance(content, str):
        return ([{"type": "text", "text": content}], [] if content else
                [f"{where}: content must be non-empty"])
    if not isinstance(content, list) or not content:
        return [], [f"{where}: content must be a non-empty string or array"]
    problems: list[str] = []
    blocks: list[JSON] = []
    for j, block in enumerate(content):
        check = _BLOCKS.get(block.get("type", "")) if isinstance(block, dict) else None
        if check is None:
            problems.append(f"{where}[{j}]: unknown content block")
            continue
        problems.extend(check(block, f"{where}[{j}]"))
        blocks.append(block)
    return blocks, problems


def _check_pairing(turns: list[tuple[str, list[JSON]]]) -> list[str]:
    """Every tool_use is answered first thing in the very next user turn, and every
    tool_result answers a tool_use of the turn just before."""
    problems = []
    for i, (role, blocks) in enumerate(turns):
        if role != "user":
            continue
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        leading = 0
        while leading < len(blocks) and blocks[leading].get("type") == "tool_result":
            leading += 1
        if leading != len(results):
            problems.append(f"messages[{i}]: tool_result blocks must come first")
        before = turns[i - 1] if i else ("user", [])
        asked = {b.get("id") for b in before[1] if b.get("type") == "tool_use"} \
            if before[0] == "assistant" else set()
        if set(results) - asked:
            problems.append(f"messages[{i}]: tool_result for an unknown tool_use id")
    for i, (role, blocks) in enumerate(turns):
        asked = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
        if role != "assistant" or not asked:
            continue
        after = turns[i + 1] if i + 1 < len(turns) else ("assistant", [])
        answered = {b.get("tool_use_id") for b in after[1] if b.get("type") == "tool_result"}
        if after[0] != "user" or asked - answered:
            problems.append(f"messages[{i}]: tool_use ids were found without tool_result "
                            "blocks immediately after")
    return problems


def _check_messages(messages: Any, roles: frozenset[str]) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ["messages: must be a non-empty array"]
    problems: list[str] = []
    turns: list[tuple[str, list[JSON]]] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in roles:
            problems.append(f"messages[{i}].role: must be one of {sorted(roles)}, got {role!r}")
            continue
        if role == "system":
            problems.extend(_check_system(m.get("content")))
            continue
        blocks, found = _blocks(m.get("content"), f"messages[{i}].content")
        problems.extend(found)
        if turns and turns[-1][0] == role:  # the API merges consecutive same-role turns
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if turns and turns[0][0] != "user":
        problems.append("messages: the first message must use the user role")
    return problems + _check_pairing(turns)


def _check_tools(body: JSON) -> list[str]:
    problems = []
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return ["tools: must be an array"]
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or not TOOL_NAME.match(str(tool.get("name", ""))):
            problems.append(f"tools[{i}]: invalid tool name")
        elif "type" in tool and tool["type"] != "custom":
            continue  # a server tool, with its own versioned type
        elif not isinstance(tool.get("input_schema"), dict) or \
                tool["input_schema"].get("type") != "object":
            problems.append(f"tools[{i}].input_schema: must be a JSON schema of type object")
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
            problems.append("tool_choice: must be an object with type auto, any, tool or none")
        elif choice["type"] == "tool" and not isinstance(choice.get("name"), str):
            problems.append("tool_choice.name: Field required")
    return problems


def _check_numbers(body: JSON) -> list[str]:
    problems = []
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problems.append("max_tokens: Field required (a positive integer)")
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            problems.append(f"{key}: must be within [0, 1]")
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        problems.append("top_k: must be a non-negative integer")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET or (
                isinstance(max_tokens, int) and budget >= max_tokens):
            problems.append("thinking.budget_tokens: must be >= 1024 and less than max_tokens")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        problems += _check_sampling_with_thinking(body)
    return problems


def _check_sampling_with_thinking(body: JSON) -> list[str]:
    problems = []
    if body.get("temperature") not in (None, 1, 1.0):
        problems.append("temperature: may only be set to 1 when thinking is enabled")
    top_p = body.get("top_p")
    if top_p is not None and not (isinstance(top_p, int | float) and 0.95 <= top_p <= 1):
        problems.append("top_p: must be between 0.95 and 1, or unset, when thinking is enabled")
    if body.get("top_k") is not None:
        problems.append("top_k: is not supported when thinking is enabled")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        problems.append("tool_choice: thinking may not be enabled when tool_choice forces tool use")
    return problems


def _check_system(system: Any) -> list[str]:
    if system is None or isinstance(system, str):
        return []
    if not isinstance(system, list):
        return ["system: must be a string or an array of text blocks"]
    return [p for i, b in enumerate(system) for p in (
        _check_text(b, f"system[{i}]") if isinstance(b, dict) and b.get("type") == "text"
        else [f"system[{i}]: must be a text block"])]


def _check_output(body: JSON, betas: frozenset[str]) -> list[str]:
    """Structured outputs: `output_config.format`, or the beta's older top-level
    `output_format`; either must be a json_schema format with a schema object."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        return ["output_config: must be an object"]
    formats = [("output_config.format", (config or {}).get("format"))]
    if "output_format" in body:
        if STRUCTURED_OUTPUTS not in betas:
            return ["output_format: Extra inputs are not permitted"]
        formats.append(("output_format", body["output_format"]))
    return [f"{where}: must be {{type: json_schema, schema: {{...}}}}" for where, fmt in formats
            if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "json_schema"
                                        and isinstance(fmt.get("schema"), dict))]


def _check_misc(body: JSON) -> list[str]:
    problems = [f"{key}: Extra inputs are not permitted" for key in body
                if key not in KNOWN_FIELDS and key != "output_format"]
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or
                              not all(isinstance(s, str) and s.strip() for s in stops)):
        problems.append("stop_sequences: must be an array of non-blank strings")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        problems.append("metadata: only user_id is permitted")
    if "stream" in body and not isinstance(body["stream"], bool):
        problems.append("stream: must be a boolean")
    return problems


def validate_anthropic_request(body: Any, betas: frozenset[str] = frozenset()) -> list[str]:
    """What the real Messages API would reject in this body (one message per problem), given
    the betas the request opted into."""
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems = [] if isinstance(body.get("model"), str) else ["model: Field required"]
    roles = ROLES_WITH_SYSTEM if MID_CONVERSATION_SYSTEM in betas else ROLES
    return (problems + _check_messages(body.get("messages"), roles) + _check_numbers(body)
            + _check_tools(body) + _check_system(body.get("system")) + _check_misc(body)
            + _check_output(body, betas))
