"""Request analysis: the capabilities a request needs, its prompt size and its session key."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from router.analysis import IMAGE_TOKENS
from router.types import Api, Capability, Needs
from router.wire import client_api


def analyse(body: dict[str, Any], api: Api, session_header: str | None = None) -> Needs:
    return client_api(api).analyse(body, session_header)

USER = {"role": "user", "content": "hello"}


def caps(body: dict[str, Any], api: Api = Api.OPENAI) -> set[str]:
    return {c.value for c in analyse(body, api).capabilities}


def test_plain_text_needs_nothing() -> None:
    assert caps({"messages": [USER]}) == set()


def test_tools_or_tool_turns_need_tools() -> None:
    assert caps({"messages": [USER], "tools": [{"type": "function"}]}) == {"tools"}
    assert caps({"messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]}) == {"tools"}
    assert caps({"messages": [{"role": "assistant", "tool_calls": [{"id": "x"}]}]}) == {"tools"}
    anthropic_turn = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
    assert caps({"messages": [anthropic_turn]}, Api.ANTHROPIC) == {"tools"}


def test_images_need_vision_in_both_apis() -> None:
    oa = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}
    an = {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}
    assert caps({"messages": [oa]}) == {"vision"}
    assert caps({"messages": [an]}, Api.ANTHROPIC) == {"vision"}
    assert analyse({"messages": [oa, oa]}, Api.OPENAI).prompt_tokens >= 2 * IMAGE_TOKENS


def test_response_formats() -> None:
    assert caps({"messages": [USER], "response_format": {"type": "json_object"}}) == {"json_object"}
    assert caps({"messages": [USER], "response_format": {"type": "json_schema"}}) == {"json_schema"}
    assert caps({"messages": [USER], "response_format": {"type": "text"}}) == set()
    assert caps({"messages": [USER], "output_config": {"format": {"type": "json_schema"}}},
                Api.ANTHROPIC) == {"json_schema"}


def test_session_key_order() -> None:
    body = {"messages": [USER], "user": "u1", "metadata": {"user_id": "m1"}}
    assert analyse(body, Api.OPENAI).session_key == "u1"
    assert analyse(body, Api.ANTHROPIC).session_key == "m1"
    assert analyse(body, Api.OPENAI, session_header="h1").session_key == "h1"
    assert analyse({"messages": [USER]}, Api.OPENAI).session_key is None


def test_prompt_size_counts_system_tools_and_text() -> None:
    small = analyse({"messages": [USER]}, Api.OPENAI).prompt_tokens
    big = analyse({"messages": [{"role": "user", "content": "x" * 40000}],
                   "system": "s" * 4000, "tools": [{"d": "y" * 4000}]}, Api.ANTHROPIC).prompt_tokens
    assert small < 20 and 11000 <= big <= 13000


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=30))
def test_analysis_never_crashes_on_any_json(value: object) -> None:
    for api in (Api.OPENAI, Api.ANTHROPIC):
        for body in ({"messages": value}, {"messages": [value]}, {"tools": value, "system": value,
                     "response_format": value, "metadata": value, "user": value}):
            needs = analyse(body, api)
            assert needs.prompt_tokens >= 0
            assert needs.capabilities <= set(Capability)
