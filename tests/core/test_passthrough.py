"""Same-API translation and the stream commit point."""

from __future__ import annotations

from typing import Any

from router.types import Api
from router.wire import translation, upstream_api


def test_anthropic_passthrough_drops_only_unsigned_thinking() -> None:
    body = {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "from an OpenAI backend", "signature": ""},
            {"type": "thinking", "thinking": "signed", "signature": "sig"},
            {"type": "text", "text": "a"}]},
        {"role": "user", "content": "next"}]}
    out = translation(Api.ANTHROPIC, Api.ANTHROPIC).request(body).body
    assert [b.get("signature") for b in out["messages"][1]["content"]] == ["sig", None]
    untouched = {"messages": [{"role": "user", "content": "q"}]}
    assert translation(Api.ANTHROPIC, Api.ANTHROPIC).request(untouched).body is untouched


def test_more_than_four_stop_sequences_are_capped_for_openai() -> None:
    body = {"model": "m", "max_tokens": 5, "stop_sequences": list("abcdef"),
            "messages": [{"role": "user", "content": "q"}]}
    assert translation(Api.ANTHROPIC, Api.OPENAI).request(body).body["stop"] == list("abcd")


def test_the_commit_point_needs_real_content() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    assert not upstream_api(Api.OPENAI).is_content(chunk({"role": "assistant", "content": ""}))
    assert not upstream_api(Api.OPENAI).is_content(chunk({}, "stop"))
    assert upstream_api(Api.OPENAI).is_content(chunk({"content": "hi"}))
    assert upstream_api(Api.OPENAI).is_content(chunk({"tool_calls": [{"index": 0}]}))
    assert not upstream_api(Api.ANTHROPIC).is_content({"type": "message_start", "message": {}})
    assert not upstream_api(Api.ANTHROPIC).is_content({"type": "content_block_start",
                                                "content_block": {"type": "text", "text": ""}})
    assert not upstream_api(Api.ANTHROPIC).is_content({"type": "message_delta", "delta": {}})
    assert upstream_api(Api.ANTHROPIC).is_content({"type": "content_block_start",
                                            "content_block": {"type": "tool_use"}})
    assert upstream_api(Api.ANTHROPIC).is_content({"type": "content_block_delta",
                                            "delta": {"type": "text_delta", "text": "x"}})
