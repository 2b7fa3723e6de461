"""Why a generation ended, in each API's words (wire.md §2.1)."""

from __future__ import annotations

from types import MappingProxyType

FINISH_FOR_STOP = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }
)

STOP_FOR_FINISH = MappingProxyType(
    {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "function_call": "tool_use",
        "content_filter": "refusal",
    }
)


def finish_reason(stop_reason: object) -> str:
    return FINISH_FOR_STOP.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def stop_reason(finish: object, called_tool: bool) -> str:
    """Backends such as ollama end tool turns with `stop`; an Anthropic client only runs the
    tools when the reason says tool_use, so a called tool wins over what the upstream said."""
    if called_tool:
        return "tool_use"
    return STOP_FOR_FINISH.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
