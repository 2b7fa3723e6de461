"""Same-API translation and the stream commit point."""

from __future__ import annotations

from router.translate import is_content_event, translate_request
from router.types import Api


def test_anthropic_passthrough_drops_only_unsigned_thinking() -> None:
    body = {"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "from an OpenAI backend", "signature": ""},
            {"type": "thinking", "thinking": "signed", "signature": "sig"},
            {"type": "text", "text": "a"}]},
        {"role": "user", "content": "next"}]}
    out = translate_request(body, Api.ANTHROPIC, Api.ANTHROPIC).body
    assert [b.get("signature") for b in out["messages"][1]["content"]] == ["sig", None]
    untouched = {"messages": [{"role": "user", "content": "q"}]}
    assert translate_request(untouched, Api.ANTHROPIC, Api.ANTHROPIC).body is untouched


def test_more_than_four_stop_sequences_are_capped_for_openai() -> None:
    body = {"model": "m", "max_tokens": 5, "stop_sequences": list("abcdef"),
            "messages": [{"role": "user", "content": "q"}]}
    assert translate_request(body, Api.ANTHROPIC, Api.OPENAI).body["stop"] == list("abcd")


def test_the_commit_point_needs_real_content() -> None:
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    assert not is_content_event(Api.OPENAI, chunk({"role": "assistant", "content": ""}))
    assert not is_content_event(Api.OPENAI, chunk({}, "stop"))
    assert is_content_event(Api.OPENAI, chunk({"content": "hi"}))
    assert is_content_event(Api.OPENAI, chunk({"tool_calls": [{"index": 0}]}))
    assert not is_content_event(Api.ANTHROPIC, {"type": "message_start", "message": {}})
    assert not is_content_event(Api.ANTHROPIC, {"type": "content_block_start",
                                                "content_block": {"type": "text", "text": ""}})
    assert not is_content_event(Api.ANTHROPIC, {"type": "message_delta", "delta": {}})
    assert is_content_event(Api.ANTHROPIC, {"type": "content_block_start",
                                            "content_block": {"type": "tool_use"}})
    assert is_content_event(Api.ANTHROPIC, {"type": "content_block_delta",
                                            "delta": {"type": "text_delta", "text": "x"}})
