"""Identifiers crossing the API boundary: tool ids and tool names are rewritten
deterministically, so a client replaying its history gets the same values every time and
pairs still match."""

from __future__ import annotations

import hashlib
import re
import uuid

_ANTHROPIC_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_NAME_PREFIX = 55  # 55 + "_" + 8 hex digits = 64, the OpenAI limit


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def anthropic_tool_id(raw: str) -> str:
    """A tool id Anthropic accepts; ids from OpenAI-compatible backends look like
    `functions.Bash:0` or are empty. The hash keeps distinct ids distinct after cleaning."""
    if _ANTHROPIC_TOOL_ID.match(raw):
        return raw
    cleaned = _UNSAFE.sub("_", raw)
    return f"toolu_{cleaned}_{_digest(raw)}" if cleaned else f"toolu_{_digest(raw)}"


def minted_tool_id(response_id: str, index: int) -> str:
    """An id for a tool call the upstream left without one; stable per response and position
    so a stream and its collected form agree."""
    return f"toolu_{_digest(f'{response_id}:{index}')}{index}"


def short_tool_name(name: str) -> str:
    """A tool name within `^[a-zA-Z0-9_-]{1,64}$` (MCP names like `mcp__server__tool` can be
    longer); the hash suffix keeps two long names with a common prefix apart."""
    if _TOOL_NAME.match(name):
        return name
    return f"{_UNSAFE.sub('_', name)[:_NAME_PREFIX]}_{_digest(name)}"


def message_id(upstream_id: object) -> str:
    """An Anthropic message id derived from the upstream's completion id when it has one."""
    if isinstance(upstream_id, str) and upstream_id:
        return "msg_" + _UNSAFE.sub("_", upstream_id)
    return "msg_" + uuid.uuid4().hex


def completion_id(upstream_id: object) -> str:
    """An OpenAI completion id derived from the upstream's message id when it has one."""
    if isinstance(upstream_id, str) and upstream_id:
        return "chatcmpl-" + upstream_id
    return "chatcmpl-" + uuid.uuid4().hex
