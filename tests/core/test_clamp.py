"""max_tokens is a ceiling clamped to the backend's room; Anthropic needs one, and its thinking
budget must stay below it."""

from __future__ import annotations

from typing import Any

from router.types import Api, Backend, Needs
from router.wire import upstream_api


def backend(api: Api, context: int = 10_000) -> Backend:
    return Backend("p/m", "p", "m", api, frozenset(), context)


NEEDS = Needs(frozenset(), prompt_tokens=2_000)


def _clamp_max_tokens(body: dict[str, Any], backend: Backend, needs: Needs) -> None:
    """What the proxy does before sending: the room is the context left after the prompt."""
    room = max(backend.context_length - needs.prompt_tokens, 1)
    upstream_api(backend.api).prepare(body, room, stream=False)


def test_openai_fields_are_clamped_and_never_added() -> None:
    body = {"max_tokens": 50_000, "max_completion_tokens": 100}
    _clamp_max_tokens(body, backend(Api.OPENAI), NEEDS)
    assert body == {"max_tokens": 8_000, "max_completion_tokens": 100}
    body = {}
    _clamp_max_tokens(body, backend(Api.OPENAI), NEEDS)
    assert body == {}


def test_anthropic_gets_a_bound_when_none_was_sent() -> None:
    body: dict[str, Any] = {}
    _clamp_max_tokens(body, backend(Api.ANTHROPIC, 100_000), NEEDS)
    assert body == {"max_tokens": 4096}
    body = {}
    _clamp_max_tokens(body, backend(Api.ANTHROPIC, 3_000), NEEDS)
    assert body == {"max_tokens": 1_000}


def test_thinking_budget_shrinks_below_the_clamp_or_goes() -> None:
    body = {"max_tokens": 64_000, "thinking": {"type": "enabled", "budget_tokens": 31_999}}
    _clamp_max_tokens(body, backend(Api.ANTHROPIC, 10_000), NEEDS)
    assert body == {"max_tokens": 8_000, "thinking": {"type": "enabled", "budget_tokens": 7_999}}
    body = {"max_tokens": 64_000, "thinking": {"type": "enabled", "budget_tokens": 2_000}}
    _clamp_max_tokens(body, backend(Api.ANTHROPIC, 2_900), NEEDS)
    assert body == {"max_tokens": 900}
