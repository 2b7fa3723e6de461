"""A reasoning effort reaching an Anthropic upstream (router.translate.thinking): from Chat
Completions and from the Responses API, translated and then prepared as the proxy sends it, the
body never asks for more output than the client's ceiling or the backend's room, keeps thinking
within what Anthropic accepts (a budget of at least 1024 below max_tokens, no sampling or forced
tool choice beside it), and keeps the client's sampling when thinking has to stay off."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from router.demo.anthropic_validation import validate_anthropic_request
from router.translate import thinking
from router.types import Api
from router.wire import translation, upstream_api

EFFORTS = st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh"])
CEILINGS = st.one_of(st.none(), st.integers(1, 20_000))
CHOICES = st.sampled_from([None, "auto", "required", "none"])
TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


@st.composite
def asks(draw: st.DrawFn) -> dict[str, Any]:
    return {"effort": draw(EFFORTS), "ceiling": draw(CEILINGS), "room": draw(st.integers(1, 40_000)),
            "temperature": draw(st.one_of(st.none(), st.floats(0, 2))),
            "top_p": draw(st.one_of(st.none(), st.floats(0, 1))), "choice": draw(CHOICES)}


def _chat(ask: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "think"}],
                            "reasoning_effort": ask["effort"], "tools": [TOOL]}
    optional = {"max_completion_tokens": ask["ceiling"], "temperature": ask["temperature"],
                "top_p": ask["top_p"], "tool_choice": ask["choice"]}
    return body | {k: v for k, v in optional.items() if v is not None}


def _responses(ask: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "input": "think", "reasoning": {"effort": ask["effort"]},
                            "tools": [{"type": "function", "name": "get_time"}]}
    optional = {"max_output_tokens": ask["ceiling"], "temperature": ask["temperature"],
                "top_p": ask["top_p"], "tool_choice": ask["choice"]}
    return body | {k: v for k, v in optional.items() if v is not None}


def _sent(client: Api, body: dict[str, Any], room: int) -> dict[str, Any]:
    """What the proxy sends: translated, then prepared (clamped) for the backend's room."""
    out = translation(client, Api.ANTHROPIC).request(body).body
    upstream_api(Api.ANTHROPIC).prepare(out, room, stream=False)
    return out


@given(asks(), st.sampled_from([Api.OPENAI, Api.RESPONSES]))
@settings(max_examples=200, deadline=None)
def test_thinking_stays_within_the_ceiling_and_the_room(ask: dict[str, Any], client: Api) -> None:
    body = (_chat if client is Api.OPENAI else _responses)(ask)
    sent = _sent(client, body, ask["room"])
    assert validate_anthropic_request(sent) == []
    bound = min(ask["ceiling"] or 4096, ask["room"])
    assert sent["max_tokens"] == bound, "the ceiling, clamped to the room, never raised"
    wants = ask["effort"] in ("low", "medium", "high", "xhigh")
    if "thinking" in sent:
        assert wants
        assert thinking.MIN_BUDGET <= sent["thinking"]["budget_tokens"] < sent["max_tokens"]
        assert "temperature" not in sent
    elif wants and bound > thinking.MIN_BUDGET:
        raise AssertionError("room for thinking, yet it is off")
    # The ceiling is known when the request is translated, the room only when it is prepared
    # for a backend: a ceiling too small for thinking keeps the client's sampling.
    small = ask["ceiling"] is not None and ask["ceiling"] <= thinking.MIN_BUDGET
    if (small or not wants) and ask["temperature"] is not None:
        assert sent["temperature"] == min(ask["temperature"], 1.0), "no thinking: sampling as asked"


def test_fit_shrinks_the_budget_or_drops_thinking() -> None:
    body: dict[str, Any] = {"max_tokens": 3000, "thinking": {"type": "enabled", "budget_tokens": 4096}}
    thinking.fit(body)
    assert body["thinking"]["budget_tokens"] == 2999
    body = {"max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    thinking.fit(body)
    assert body == {"max_tokens": 1024}
    body = {"max_tokens": 10, "thinking": {"type": "adaptive"}}
    thinking.fit(body)
    assert body == {"max_tokens": 10, "thinking": {"type": "adaptive"}}, "no budget to fit"
